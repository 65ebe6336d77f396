"""The pure pipeline from raw counts to warnings: filter stages (``filters/``), the filter
loop, the rules, the monitor that joins them, and the offline analysis of a recording.

Pure: timestamps and values in, no clock reads, no GPIO. The same code runs live, a few
rows at a time, and offline on a whole recording.
"""
