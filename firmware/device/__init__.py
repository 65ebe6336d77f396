"""The device process: its loop (source -> pipeline -> coach -> cues), ``python -m
firmware.device.main``, the channel to the web process, real-time scheduling, raw captures
for the calibration wizards, and the platform calibration run.
"""
