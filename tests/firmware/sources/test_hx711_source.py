"""HX711Source and probe_hx711 against emulated chips on a fake clock."""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pytest

from calibration.platform import Cell, PlatformCalibration
from firmware.block import MISSING, Block
from firmware.hardware.hx711_emulator import EmulatedHX711, EmulatedPins, FakeClock
from firmware.sources.base import SourceError
from firmware.sources.hx711_source import DEFAULT_PINS, HX711Source, open_blinka_pin, probe_hx711

PERIOD_S = 1 / 80


def platform(n_cells: int, rate_hz: float = 80.0) -> PlatformCalibration:
    cells = tuple(Cell(x_mm=100.0 * i, y_mm=0.0, offset=0.0, counts_per_newton=100.0) for i in range(n_cells))
    return PlatformCalibration(cells=cells, rate_hz=rate_hz)


class Board:
    """Emulated chips wired to BCM pins, with a pin opener like Blinka's."""

    def __init__(self, values, pins=DEFAULT_PINS, connected=None, rate_hz=80.0):
        self.clock = FakeClock()
        self.values = list(values)
        self.chips = []
        self.by_bcm = {}
        self.opened = []
        for i, (data, clk) in enumerate(pins[: len(values)]):
            chip = EmulatedHX711(
                self.clock,
                signal_a=lambda t_s, i=i: self.values[i],
                connected=True if connected is None else connected[i],
                rate_hz=rate_hz,
            )
            emu = EmulatedPins(chip)
            self.chips.append(chip)
            self.by_bcm[data] = emu.data
            self.by_bcm[clk] = emu.clock

    def open(self, bcm: int):
        pin = self.by_bcm[bcm]
        self.opened.append(bcm)
        return pin

    def kwargs(self):
        c = self.clock
        return dict(pin_opener=self.open, clock=c.monotonic, clock_ns=c.now_ns, sleep=c.sleep)

    def source(self, n=None, **kw):
        n = len(self.values) if n is None else n
        return HX711Source(list(DEFAULT_PINS[:n]), platform(n), **self.kwargs(), **kw)


@pytest.fixture
def four():
    return Board([100, -200, 300, -400])


def rows(source, n):
    return Block.concat(source.read() for _ in range(n))


def test_four_chips_give_rows_of_their_values(four):
    with four.source() as src:
        assert src.kind == "hx711" and src.n_cells == 4
        block = rows(src, 20)
    assert block.raw.tolist() == [[100, -200, 300, -400]] * 20
    assert sorted(four.opened) == sorted(p for pair in DEFAULT_PINS for p in pair)
    gaps = np.diff(block.t_s)
    assert np.all(gaps > 0)
    assert np.allclose(gaps, PERIOD_S, atol=0.001)  # one row per conversion period
    assert [c.frames_read for c in four.chips] == [20] * 4


def test_rows_are_one_row_blocks_with_clock_timestamps(four):
    four.clock.advance_ns(5_000 * 10**9)  # the machine has been up for a while
    start = four.clock.monotonic()
    src = four.source()
    block = src.read()
    assert len(block) == 1 and block.raw.dtype == np.int64
    # Seconds since the source opened, as recordings want, not the clock's own epoch.
    assert block.t_s[0] == pytest.approx(four.clock.monotonic() - start)
    # the first row waited out the 50 ms settling after the reset
    assert 0.05 < block.t_s[0] < 0.07


def test_values_follow_the_signal(four):
    src = four.source()
    src.read()
    four.values[1] = 12345
    four.clock.sleep(PERIOD_S)  # let a conversion with the new value complete
    src.read()
    assert src.read().raw[0, 1] == 12345


def test_disconnected_chip_is_missing_and_the_others_keep_coming():
    board = Board([100, -200, 300, -400], connected=[True, True, False, True])
    src = board.source()
    block = rows(src, 10)
    assert np.all(block.raw[:, 2] == MISSING)
    assert block.raw[:, [0, 1, 3]].tolist() == [[100, -200, -400]] * 10
    gaps = np.diff(block.t_s)
    assert np.all(gaps <= 1.5 * PERIOD_S + 0.002)
    assert src.timeouts == [0, 0, 10, 0]
    assert "cell 2" in str(src.last_error[2])


def test_chip_unplugged_and_plugged_back_in(four):
    src = four.source()
    rows(src, 3)
    four.chips[0].connected = False
    assert rows(src, 3).raw[:, 0].tolist() == [MISSING] * 3
    four.chips[0].connected = True
    block = rows(src, 8)  # it settles 50 ms, then comes back
    assert block.raw[-1, 0] == 100
    assert np.all(block.raw[:, 1:] != MISSING)


def test_dropped_frame_is_missing_for_that_row(four):
    four.values[3] = 10**9  # saturated
    src = four.source()
    block = rows(src, 3)
    assert block.raw[:, 3].tolist() == [MISSING] * 3
    assert src.dropped_frames == [0, 0, 0, 3]
    assert block.raw[:, :3].tolist() == [[100, -200, 300]] * 3


def test_all_chips_dead_still_returns_rows_after_the_deadline():
    board = Board([1, 2], connected=[False, False])
    src = board.source()
    src.read()  # first row: settling + deadline
    t0 = board.clock.monotonic()
    block = src.read()
    assert block.raw.tolist() == [[MISSING, MISSING]]
    assert block.t_s[0] - t0 == pytest.approx(1.5 * PERIOD_S, abs=0.001)


def test_single_chip_platform():
    board = Board([77])
    src = board.source()
    assert rows(src, 5).raw.tolist() == [[77]] * 5


def test_already_made_pin_pairs():
    clock = FakeClock()
    emus = [EmulatedPins(EmulatedHX711(clock, signal_a=lambda t_s, v=v: v)) for v in (5, 6)]
    src = HX711Source(
        [e.pair() for e in emus], platform(2), clock=clock.monotonic, clock_ns=clock.now_ns, sleep=clock.sleep
    )
    assert src.read().raw.tolist() == [[5, 6]]
    src.close()
    assert not emus[0].data.deinitialized  # not ours to release


def test_close_releases_the_pins_it_opened_and_is_idempotent(four):
    src = four.source()
    src.read()
    src.close()
    src.close()
    assert all(pin.deinitialized for pin in four.by_bcm.values())
    with pytest.raises(SourceError):
        src.read()


def test_pins_are_set_up_as_input_with_pull_up_and_output(four):
    four.source()
    data, clk = four.by_bcm[5], four.by_bcm[6]
    assert data.direction == "input" and "UP" in str(data.pull)
    assert clk.direction == "output"


def test_pin_count_must_match_the_platform(four):
    with pytest.raises(SourceError, match="3 HX711 pin pairs given for a platform of 4 cells"):
        HX711Source(list(DEFAULT_PINS[:3]), platform(4), **four.kwargs())
    with pytest.raises(SourceError, match="1 to 4"):
        HX711Source([], platform(1), **four.kwargs())
    with pytest.raises(SourceError, match="twice"):
        HX711Source([(5, 6), (6, 7)], platform(2), **four.kwargs())
    with pytest.raises(SourceError, match="0-27"):
        HX711Source([(5, 40)], platform(1), **four.kwargs())


def test_failed_open_releases_the_pins_already_opened(four):
    def opener(bcm):
        if bcm == 22:
            raise SourceError("cannot open GPIO BCM 22")
        return four.open(bcm)

    kw = four.kwargs() | {"pin_opener": opener}
    with pytest.raises(SourceError, match="BCM 22"):
        HX711Source(list(DEFAULT_PINS), platform(4), **kw)
    assert four.opened and all(four.by_bcm[b].deinitialized for b in four.opened)


# -- probe ----------------------------------------------------------------------


def test_probe_ok(four):
    ok, reason = probe_hx711(DEFAULT_PINS, **_probe_kwargs(four))
    assert ok, reason
    assert "4 HX711" in reason
    assert all(pin.deinitialized for pin in four.by_bcm.values())


def test_probe_names_the_chip_that_never_gets_ready():
    board = Board([1, 2, 3, 4], connected=[True, True, False, True])
    ok, reason = probe_hx711(DEFAULT_PINS, **_probe_kwargs(board))
    assert not ok
    assert reason == "cell 2 (DOUT BCM 22) never became ready: check its wiring and power"
    assert board.clock.monotonic() < 0.6  # gave up after the timeout


def test_probe_reports_a_bad_frame():
    board = Board([1, 10**9])
    ok, reason = probe_hx711(DEFAULT_PINS[:2], **_probe_kwargs(board))
    assert not ok and reason.startswith("cell 1 (DOUT BCM 17) gave a bad frame") and "saturated" in reason


def test_probe_flags_boards_at_10_samples_per_second():
    board = Board([1, 2], rate_hz=10)
    ok, reason = probe_hx711(DEFAULT_PINS[:2], **_probe_kwargs(board))
    assert not ok
    assert reason.startswith("cell 0 (DOUT BCM 5) converts slower than 80 samples/s")
    assert "RATE pin tied low" in reason and "cell 1 (DOUT BCM 17)" in reason
    board = Board([1, 2], rate_hz=10)
    ok, reason = probe_hx711(DEFAULT_PINS[:2], expect_rate_hz=10, **_probe_kwargs(board))
    assert ok, reason


def test_source_at_10_samples_per_second():
    board = Board([1, -2], rate_hz=10)
    c = board.clock
    src = HX711Source(list(DEFAULT_PINS[:2]), platform(2, rate_hz=10), **board.kwargs())
    block = rows(src, 4)
    assert block.raw.tolist() == [[1, -2]] * 4
    assert np.allclose(np.diff(block.t_s), 0.1, atol=0.002)
    assert 0.4 < block.t_s[0] < 0.45
    assert c.sleeps <= c.monotonic() / 0.0005 + 8  # one poll per 0.5 ms of waiting


def _probe_kwargs(board):
    c = board.clock
    return dict(pin_opener=board.open, clock_ns=c.now_ns, sleep=c.sleep)


@pytest.fixture
def pc_blinka(monkeypatch):
    """Blinka as it looks on a PC: board imports but has no D<n> pins."""
    fake_board = types.ModuleType("board")
    fake_board.board_id = "GENERIC_LINUX_PC"
    fake_digitalio = types.ModuleType("digitalio")

    def no_pin(pin):
        raise RuntimeError("no GPIO")

    fake_digitalio.DigitalInOut = no_pin
    monkeypatch.setitem(sys.modules, "board", fake_board)
    monkeypatch.setitem(sys.modules, "digitalio", fake_digitalio)
    return fake_board


def test_probe_on_a_pc_says_there_is_no_pi_gpio(pc_blinka):
    ok, reason = probe_hx711()
    assert not ok
    assert reason == "no Raspberry Pi GPIO on this machine (Blinka board: GENERIC_LINUX_PC)"


def test_open_blinka_pin_reports_a_pin_that_cannot_be_opened(pc_blinka):
    pc_blinka.D5 = object()
    with pytest.raises(SourceError, match="cannot open GPIO BCM 5.*no GPIO"):
        open_blinka_pin(5)


def test_probe_with_the_real_blinka_on_this_machine():
    import board

    if hasattr(board, "D5"):
        pytest.skip("this machine has GPIO pin D5")
    ok, reason = probe_hx711()
    assert not ok and reason.startswith("no Raspberry Pi GPIO on this machine (Blinka board: ")


def test_importing_the_source_module_does_not_import_blinka():
    code = (
        "import sys, firmware.sources.hx711_source; "
        "assert not {'board', 'digitalio', 'adafruit_hx711'} & set(sys.modules), sys.modules.keys()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
