"""Per-person, per-region scales: history, atomic saves, export/import, checked files, suggestions."""

import json
import os

import pytest

from calibration.intensity import Mark
from calibration.profiles import (
    ExportExistsError, ProfileError, ProfileStore, add_calibration, band_from_profile_file, new_profile, person_key, profile_from_dict,
    profile_to_dict, region_key, report_band_felt_wrong, suggest_recalibration,
)

MARKS = (Mark(100.0, 2.0), Mark(200.0, 5.0), Mark(260.0, 7.0))
LATER = (Mark(120.0, 2.0), Mark(230.0, 5.0))


@pytest.fixture
def store(tmp_path):
    return ProfileStore(tmp_path / "data")


def test_history_is_kept_and_the_newest_is_used(store):
    store.add_calibration("Alex", "calf", MARKS, "2025-03-01T09:00:00+01:00", {"source": "simulated"})
    p = store.add_calibration("alex", "calf", LATER, "2025-04-01")
    assert [c.date for c in p.calibrations] == ["2025-03-01T09:00:00+01:00", "2025-04-01"]
    assert p.current.marks == LATER and p.calibrations[0].info == (("source", "simulated"),)
    # the one added last is in use whatever its date (a device without a clock can record any date)
    p = store.add_calibration("alex", "calf", MARKS, "2025-01-01")
    assert p.current.date == "2025-01-01" and p.current.marks == MARKS and len(p.calibrations) == 3
    assert [c.date for c in p.calibrations] == ["2025-03-01T09:00:00+01:00", "2025-04-01", "2025-01-01"]
    assert store.load("alex", "calf") == p
    assert store.load("alex", "quads") is None
    assert store.people() == ["alex"] and store.regions("alex") == ["calf"]
    assert store.path("alex", "calf").name == "calf.json"


def test_a_failed_save_keeps_the_old_file(store, monkeypatch):
    store.add_calibration("alex", "calf", MARKS, "2025-03-01")
    path = store.path("alex", "calf")
    before = path.read_bytes()

    def no_replace(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(ProfileError, match="cannot save: No space left") as info:
        store.add_calibration("alex", "calf", LATER, "2025-04-01")
    assert "\n" not in str(info.value)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["calf.json"]


def test_export_import_round_trip(store, tmp_path):
    store.add_calibration("alex", "calf", MARKS, "2025-03-01")
    store.add_calibration("alex", "calf", LATER, "2025-04-01")
    store.add_calibration("alex", "upper back", MARKS, "2025-03-02")
    store.save(report_band_felt_wrong(store.load("alex", "calf"), "2025-04-02", "too_hard"))
    out = tmp_path / "alex.json"
    assert store.export("alex", out) == 2
    other = ProfileStore(tmp_path / "elsewhere")
    imported = other.import_file(out)
    assert {p.region for p in imported} == {"calf", "upper-back"}
    for region in ("calf", "upper-back"):
        assert other.load("alex", region) == store.load("alex", region)
    # importing again merges without duplicating history
    again = other.import_file(out)
    assert len(again[0].calibrations) == len(store.load("alex", again[0].region).calibrations)


def test_import_merges_with_what_is_stored(store, tmp_path):
    store.add_calibration("alex", "calf", MARKS, "2025-03-01")
    store.export("alex", tmp_path / "x.json")
    store.add_calibration("alex", "calf", LATER, "2025-05-01")
    merged = store.import_file(tmp_path / "x.json")[0]
    assert [c.date for c in merged.calibrations] == ["2025-03-01", "2025-05-01"]


def test_a_bad_import_writes_nothing(store, tmp_path):
    good = profile_to_dict(new_profile("alex", "calf", MARKS, "2025-03-01"))
    bad = profile_to_dict(new_profile("alex", "quads", MARKS, "2025-03-01"))
    bad["calibrations"][0]["marks"][1]["force_n"] = 50.0  # 5/10 below 2/10
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps({"format": "knotcoach-intensity-export", "version": 1, "person": "alex",
                                "profiles": [good, bad]}))
    with pytest.raises(ProfileError, match="mixed.json: calibration of 2025-03-01: 5/10 came at less pressure"):
        store.import_file(path)
    assert store.people() == []


def test_band_from_profile_file(store, tmp_path):
    store.add_calibration("alex", "calf", MARKS, "2025-03-01")
    lo, hi = band_from_profile_file(store.path("alex", "calf"))
    assert lo < hi and hi == pytest.approx(200.0)
    assert band_from_profile_file(store.path("alex", "calf"), region="calf") == (lo, hi)
    store.add_calibration("alex", "quads", LATER, "2025-03-01")
    export = tmp_path / "all.json"
    store.export("alex", export)
    assert band_from_profile_file(export, region="calf") == (lo, hi)
    with pytest.raises(ProfileError, match="several scales"):
        band_from_profile_file(export)
    with pytest.raises(ProfileError, match="has no scale for glutes"):
        band_from_profile_file(export, region="glutes")


def _valid():
    return profile_to_dict(new_profile("alex", "calf", MARKS, "2025-03-01"))


def _edit(change):
    data = _valid()
    change(data)
    return data


BAD_FILES = [
    ("not json {", "not valid JSON"),
    ("[1, 2]", "not a Knot Coach intensity profile"),
    (json.dumps(_edit(lambda d: d.update(version=9))), "version 9 is not supported"),
    (json.dumps(_edit(lambda d: d.update(person="../etc"))), "person's name"),
    (json.dumps(_edit(lambda d: d.update(region="elbow"))), "unknown body region"),
    (json.dumps(_edit(lambda d: d.update(calibrations=[]))), "'calibrations' must be a non-empty list"),
    (json.dumps(_edit(lambda d: d["calibrations"][0].update(date="yesterday"))), "not an ISO 8601 date"),
    (json.dumps(_edit(lambda d: d["calibrations"][0]["marks"].pop())), None),  # two marks still fit
    (json.dumps(_edit(lambda d: d["calibrations"][0].update(marks=[{"force_n": 100, "rating": 2}]))),
     "at least two marks"),
    (json.dumps(_edit(lambda d: d["calibrations"][0]["marks"][0].update(force_n="heavy"))), "must be a number"),
    (json.dumps(_edit(lambda d: d.update(band_reports=[{"date": "2025-01-01", "felt": "meh"}]))), "band report"),
    (b"\xff\xfe", "cannot read"),
]


@pytest.mark.parametrize("content, words", BAD_FILES)
def test_bad_files_are_rejected_with_one_line_naming_the_file(tmp_path, content, words):
    path = tmp_path / "p.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    if words is None:
        assert band_from_profile_file(path)[0] > 0
        return
    with pytest.raises(ProfileError, match=words) as info:
        band_from_profile_file(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ProfileError, match="nope.json: no such file"):
        band_from_profile_file(tmp_path / "nope.json")


def test_a_damaged_stored_file_is_reported_not_overwritten(store):
    path = store.path("alex", "calf")
    path.parent.mkdir(parents=True)
    path.write_text("{broken")
    with pytest.raises(ProfileError, match="calf.json"):
        store.add_calibration("alex", "calf", MARKS, "2025-03-01")
    assert path.read_text() == "{broken"


def test_a_file_under_the_wrong_name_is_refused(store):
    store.add_calibration("alex", "calf", MARKS, "2025-03-01")
    store.path("alex", "calf").rename(store.path("alex", "quads"))
    with pytest.raises(ProfileError, match="not what its name says"):
        store.load("alex", "quads")


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "-x", "x" * 33, "a\x00b", "_x", "a.b"])
def test_names_cannot_play_path_tricks(name):
    with pytest.raises(ProfileError):
        person_key(name)


def test_names_are_normalised():
    assert person_key(" Alex Smith ") == "alex-smith" and person_key("Zoë_2") == "zoë_2"
    assert region_key("Upper Back") == "upper-back" and region_key("upper_back") == "upper-back"
    with pytest.raises(ProfileError, match="IT band"):
        region_key("IT band")
    with pytest.raises(ProfileError, match="choose one of"):
        region_key("../calf")


def test_suggestions_by_age_and_by_report():
    p = new_profile("alex", "calf", MARKS, "2025-03-01T10:00:00+00:00")
    assert suggest_recalibration(p, "2025-03-20T10:00:00+00:00") is None
    assert suggest_recalibration(p, "2025-03-31T10:00:00+00:00") is None  # exactly 30 days
    old = suggest_recalibration(p, "2025-04-15")
    assert old.reason == "old" and "44 days old" in old.text
    assert suggest_recalibration(p, "2025-02-01") is None  # a clock behind the calibration
    felt = report_band_felt_wrong(p, "2025-03-05T08:00:00", "too_hard")
    s = suggest_recalibration(felt, "2025-03-06")
    assert s.reason == "felt_wrong" and "too hard" in s.text
    # a calibration after the report answers it
    redone = profile_from_dict(profile_to_dict(felt))
    redone = add_calibration(redone, LATER, "2025-03-07")
    assert suggest_recalibration(redone, "2025-03-08") is None
    with pytest.raises(ProfileError):
        report_band_felt_wrong(p, "2025-03-05", "ouch")
    with pytest.raises(ProfileError):
        report_band_felt_wrong(p, "soon", "too_hard")


def test_contradictory_marks_are_not_stored(store):
    with pytest.raises(ProfileError, match="less pressure"):
        store.add_calibration("alex", "calf", (Mark(200, 2), Mark(100, 5)), "2025-03-01")
    assert store.people() == []


def test_a_far_future_import_does_not_outrank_a_calibration_just_made(store, tmp_path):
    future = tmp_path / "future.json"
    future.write_text(json.dumps(profile_to_dict(new_profile("alex", "calf", LATER, "2099-01-01"))))
    assert store.import_file(future)[0].current.date == "2099-01-01"
    p = store.add_calibration("alex", "calf", MARKS, "2025-06-01T10:00:00+00:00")
    assert p.current.marks == MARKS and p.current.date == "2025-06-01T10:00:00+00:00"
    assert store.load("alex", "calf").current == p.current  # and so after reading it back
    assert band_from_profile_file(store.path("alex", "calf")) == pytest.approx(p.scale.band_n())
    # importing the same file again adds nothing, so the new one stays in use
    assert store.import_file(future)[0].current.date == "2025-06-01T10:00:00+00:00"


def test_import_keeps_the_stored_order_and_appends_what_is_new(store, tmp_path):
    store.add_calibration("alex", "calf", MARKS, "2025-05-01")
    store.add_calibration("alex", "calf", LATER, "2025-02-01")
    incoming = add_calibration(new_profile("alex", "calf", MARKS, "2025-05-01"), LATER, "2024-01-01")
    path = tmp_path / "in.json"
    path.write_text(json.dumps(profile_to_dict(incoming)))
    merged = store.import_file(path)[0]
    assert [c.date for c in merged.calibrations] == ["2025-05-01", "2025-02-01", "2024-01-01"]
    assert merged.current.date == "2024-01-01"


def test_a_file_keeps_its_order_not_sorted_by_date():
    data = profile_to_dict(add_calibration(new_profile("alex", "calf", MARKS, "2030-01-01"), LATER, "2025-01-01"))
    p = profile_from_dict(data)
    assert [c.date for c in p.calibrations] == ["2030-01-01", "2025-01-01"] and p.current.marks == LATER


def test_absurd_marks_in_a_file_are_refused_with_one_line_naming_it(tmp_path):
    path = tmp_path / "absurd.json"
    data = _valid()
    data["calibrations"][0]["marks"] = [{"force_n": 1e-300, "rating": 2.0}, {"force_n": 1e300, "rating": 7.0}]
    path.write_text(json.dumps(data))
    with pytest.raises(ProfileError, match="almost no pressure") as info:
        band_from_profile_file(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


@pytest.mark.parametrize("marks, words", [
    ([{"force_n": 100, "rating": 2}, {"force_n": 105, "rating": 7}], "marks too close for the ratings"),
    ([{"force_n": 2000, "rating": 0.5}, {"force_n": 2900, "rating": 1}], "outside what can be pressed"),
    ([{"force_n": 100, "rating": 2}, {"force_n": 9000, "rating": 7}], "more than anyone presses"),
])
def test_files_that_would_give_absurd_bands_are_refused(tmp_path, marks, words):
    path = tmp_path / "p.json"
    data = _valid()
    data["calibrations"][0]["marks"] = marks
    path.write_text(json.dumps(data))
    with pytest.raises(ProfileError, match=words) as info:
        band_from_profile_file(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_export_does_not_replace_a_file_or_make_folders(store, tmp_path):
    store.add_calibration("alex", "calf", MARKS, "2025-03-01")
    out = tmp_path / "alex.json"
    out.write_text("precious")
    with pytest.raises(ExportExistsError, match="alex.json: already exists") as info:
        store.export("alex", out)
    assert "\n" not in str(info.value) and out.read_text() == "precious"
    assert store.export("alex", out, replace_existing=True) == 1
    assert json.loads(out.read_text())["person"] == "alex"
    missing = tmp_path / "no" / "such" / "alex.json"
    with pytest.raises(ProfileError, match="does not exist"):
        store.export("alex", missing)
    assert not (tmp_path / "no").exists()
    with pytest.raises(ProfileError, match="is a folder"):
        store.export("alex", tmp_path, replace_existing=True)


def test_one_person_however_their_name_is_typed():
    from calibration.profiles import person_key
    assert person_key("ａｌｅｘ") == person_key("Alex") == "alex"
    assert person_key("Ren\u00e9e") == person_key("Rene\u0301e")
