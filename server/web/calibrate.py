"""Calibration wizards' JSON API (platform and personal scale). Owner: calibration helper."""

from flask import Blueprint

bp = Blueprint("calibrate", __name__, url_prefix="/api/calibrate")
