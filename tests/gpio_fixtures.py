"""gpiozero's mock pins for tests: import the fixtures a module needs.

``no_global_factory`` is autouse where imported: library code takes
``pin_factory=`` and never sets gpiozero's global factory.
"""

from __future__ import annotations

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin


def _mock(**kw):
    f = MockFactory(**kw)
    yield f
    f.reset()
    f.close()


@pytest.fixture
def factory():
    yield from _mock()


@pytest.fixture
def pwm_factory():
    yield from _mock(pin_class=MockPWMPin)


@pytest.fixture(autouse=True)
def no_global_factory():
    """Nothing under test may set gpiozero's global pin factory."""
    assert Device.pin_factory is None
    yield
    assert Device.pin_factory is None
