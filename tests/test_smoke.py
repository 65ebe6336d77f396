from calibration.platform import CalibrationError, PlatformCalibration
import pytest


def test_platform_from_dict_rejects_zero_sensitivity():
    with pytest.raises(CalibrationError, match="counts_per_newton"):
        PlatformCalibration.from_dict(
            {"rate_hz": 80, "cells": [{"x_mm": 0, "y_mm": 0, "offset": 0, "counts_per_newton": 0}]}
        )
