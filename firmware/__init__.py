"""Knot Coach device side: sources, the filter loop, rules, coach and cues."""
