"""The coach: the knot-release protocol as a pure state machine, its settings and screen."""

from firmware.coach.protocol import CUE_FOR, STEPS, Coach
from firmware.coach.records import CoachError, Cue, Frame
from firmware.coach.screen import Decision, screen
from firmware.coach.settings import CoachSettings
from firmware.coach.views import Snapshot, Summary

__all__ = ["CUE_FOR", "STEPS", "Coach", "CoachError", "CoachSettings", "Cue", "Decision", "Frame",
           "Snapshot", "Summary", "screen"]
