"""Recordings of raw samples: the file format (``format``: read, write, RECORDING.md) and
each coached session's own recording (``session``).
"""
