"""The filter loop's stages: one small class each, streaming with carried state.

Every stage takes a block of rows (timestamps in seconds and values) and
returns the same rows processed, carrying what it needs to the next block,
so a live block of 1 row and an offline block of a million rows give
identical results. ``reset()`` restores the freshly-built state.
"""
