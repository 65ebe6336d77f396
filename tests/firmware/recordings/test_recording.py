"""Recording format v1: what RECORDING.md promises, and every way a file can be wrong."""

import gzip

import numpy as np
import pytest

from calibration.platform import Cell, PlatformCalibration
from firmware.block import MISSING, Block
from firmware.recordings.format import RecordingError, RecordingWriter, read_recording, write_recording

EXAMPLE = """# knotcoach recording 1
# platform: {"rate_hz": 80, "cells": [{"x_mm": 0, "y_mm": 0, "offset": 81234, "counts_per_newton": 412.5}, {"x_mm": 600, "y_mm": 0, "offset": -3021, "counts_per_newton": 398.0}]}
# started: 2026-11-27T09:30:00+00:00
t_s,c0,c1
0.0000,81240,-3017
0.0125,81236,
0.0250,81251,-3022
"""


def write(tmp_path, text, name="rec.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_reads_the_documented_example(tmp_path):
    rec = read_recording(write(tmp_path, EXAMPLE))
    assert rec.platform.n_cells == 2
    assert rec.platform.cells[1].counts_per_newton == 398.0
    assert rec.meta == {"started": "2026-11-27T09:30:00+00:00"}
    assert rec.block.t_s.tolist() == [0.0, 0.0125, 0.025]
    assert rec.block.raw.tolist() == [[81240, -3017], [81236, int(MISSING)], [81251, -3022]]


def test_crlf_gzip_and_unknown_keys_are_accepted(tmp_path):
    text = EXAMPLE.replace("# started", "# weather: sunny\n# started").replace("\n", "\r\n")
    rec = read_recording(write(tmp_path, gzip.compress(text.encode()), "rec.csv.gz"))
    assert len(rec.block) == 3 and rec.meta["weather"] == "sunny"


def test_round_trip_keeps_every_value(tmp_path):
    platform = PlatformCalibration((Cell(0, 0, 10, 400.0), Cell(600, 0, -5, -380.5), Cell(0, 400, 0, 1.0)))
    rng = np.random.default_rng(3)
    raw = rng.integers(-(1 << 23), 1 << 23, size=(500, 3))
    raw[rng.random(raw.shape) < 0.1] = MISSING
    block = Block(np.arange(500) / 80.0, raw)
    for name in ("r.csv", "r.csv.gz"):
        write_recording(tmp_path / name, platform, block, {"user": "ana"})
        rec = read_recording(tmp_path / name)
        assert rec.platform == platform
        assert np.array_equal(rec.block.raw, raw)
        assert np.allclose(rec.block.t_s, block.t_s, atol=5e-5)
        assert rec.meta["user"] == "ana"


def test_writer_only_shows_the_file_when_closed(tmp_path):
    platform = PlatformCalibration((Cell(0, 0, 0, 400.0),))
    out = tmp_path / "live.csv"
    w = RecordingWriter(out, platform)
    w.write(Block.from_rows([0.0, 0.0125], [[1], [2]]))
    assert not out.exists() and (tmp_path / "live.csv.part").exists()
    w.close()
    assert read_recording(out).block.raw.tolist() == [[1], [2]]


def test_empty_recording_is_not_an_error(tmp_path):
    rec = read_recording(write(tmp_path, EXAMPLE.split("0.0000")[0]))
    assert len(rec.block) == 0 and rec.block.n_cells == 2


BAD = [
    ("", 1, "empty file"),
    ("hello,world\n1,2\n", 1, "not a knotcoach recording"),
    (EXAMPLE.replace("recording 1", "recording 2"), 1, "version '2' is not supported"),
    (EXAMPLE.replace("# platform", "# plat form"), 2, "metadata lines"),
    ("\n".join(l for l in EXAMPLE.split("\n") if "platform" not in l), 3, "'# platform: {...}' line is missing"),
    (EXAMPLE.replace('{"rate_hz": 80,', '{"rate_hz": 80'), 2, "not valid JSON"),
    (EXAMPLE.replace('"counts_per_newton": 398.0', '"counts_per_newton": 0'), 2, "counts_per_newton must be 0.5 to"),
    (EXAMPLE.replace("t_s,c0,c1", "t_s,c0"), 4, "column header"),
    (EXAMPLE.replace("0.0125,81236,", "0.0125,81236"), 6, "expected 3 fields"),
    (EXAMPLE.replace("0.0125,81236,", "0.0125,81x36,"), 6, "not a whole number"),
    (EXAMPLE.replace("0.0125,81236,", "abc,81236,"), 6, "t_s 'abc' is not a number"),
    (EXAMPLE.replace("0.0125,81236,", "0.0125,8388608,"), 6, "within -8388608..8388607"),
    (EXAMPLE.replace("0.0250,", "0.0100,"), 7, "increase strictly"),
    (EXAMPLE.replace("0.0125,81236,\n", "0.0125,81236,\n\n"), 7, "blank line"),
    (b"# knotcoach recording 1\n\xff\xfe\n", 2, "not UTF-8"),
]


@pytest.mark.parametrize("text, line, message", BAD)
def test_bad_input_names_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    assert info.value.line == line
    assert message in str(info.value)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert "\n" not in str(info.value)


def test_missing_file_and_broken_gzip(tmp_path):
    with pytest.raises(RecordingError, match="cannot read"):
        read_recording(tmp_path / "nope.csv")
    with pytest.raises(RecordingError, match="broken gzip"):
        read_recording(write(tmp_path, b"\x1f\x8b\x08garbage", "x.csv.gz"))


def test_unusual_but_valid_numbers_take_the_careful_path(tmp_path):
    text = EXAMPLE.replace("0.0125,81236,", "1.25e-2,81236,").replace("0.0250,", "+0.025,")
    rec = read_recording(write(tmp_path, text))
    assert rec.block.t_s.tolist() == [0.0, 0.0125, 0.025]
    assert rec.block.raw[2].tolist() == [81251, -3022]


def test_decimal_counts_are_refused(tmp_path):
    with pytest.raises(RecordingError, match="line 6|:6: raw value '81236.5'"):
        read_recording(write(tmp_path, EXAMPLE.replace("0.0125,81236,", "0.0125,81236.5,")))


@pytest.mark.parametrize("text, line, message", [
    (EXAMPLE.replace("0.0125,81236,", "0.0125,81236.,"), 6, "raw value '81236.'"),
    (EXAMPLE.replace("0.0000,", "-0.5000,"), 5, "not negative"),
    (EXAMPLE.replace("\n", "\r"), 1, "bare \\r"),
    (EXAMPLE.replace('"counts_per_newton": 398.0', '"counts_per_newton": 1e-300'), 2, "counts per newton"),
])
def test_fast_and_careful_readers_agree_on_what_is_wrong(tmp_path, text, line, message):
    with pytest.raises(RecordingError) as info:
        read_recording(write(tmp_path, text))
    assert info.value.line == line and message in str(info.value)


def test_byte_order_mark_and_zero_padded_counts_are_fine(tmp_path):
    rec = read_recording(write(tmp_path, "\ufeff" + EXAMPLE.replace("81240,", "000000081240,")))
    assert rec.block.raw[0, 0] == 81240
    # The careful reader (taken because of the exponent) agrees.
    rec = read_recording(write(tmp_path, EXAMPLE.replace("81240,", "000000081240,").replace("0.0125,", "1.25e-2,")))
    assert rec.block.raw[0, 0] == 81240


def test_writer_keeps_a_part_file_when_recording_fails(tmp_path):
    platform = PlatformCalibration((Cell(0, 0, 0, 400.0),))
    out = tmp_path / "r.csv"
    with pytest.raises(RuntimeError):
        with RecordingWriter(out, platform) as w:
            w.write(Block.from_rows([0.0], [[1]]))
            raise RuntimeError("the source died")
    assert not out.exists() and (tmp_path / "r.csv.part").exists()
