"""Knot Coach device side: ``block`` (the data unit every stage shares), and packages by
responsibility: ``hardware`` (HX711), ``sources``, ``pipeline`` (filters, rules), ``coach``,
``cues``, ``device`` (the process), ``recordings``, ``sim``."""
