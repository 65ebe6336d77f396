"""Cues and buttons: buzzer patterns, LED states, the scheduler, gpiozero devices.

``patterns`` and ``player`` are pure (time passed in); ``devices`` drives the
Pi's pins through gpiozero, or mirrors the states where there is no GPIO.
``devices`` is not imported here, so the pure parts load without gpiozero.
"""

from firmware.cues.patterns import (
    FAULT,
    IDLE,
    IN_BAND,
    LED_LOOKS,
    OVER,
    PATTERNS,
    LedLook,
    Pattern,
    Priority,
    Step,
)
from firmware.cues.player import EVENT_CUES, CuePlayer, CueState

__all__ = [
    "EVENT_CUES",
    "FAULT",
    "IDLE",
    "IN_BAND",
    "LED_LOOKS",
    "OVER",
    "PATTERNS",
    "CuePlayer",
    "CueState",
    "LedLook",
    "Pattern",
    "Priority",
    "Step",
]
