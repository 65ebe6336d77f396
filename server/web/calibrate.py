"""The calibration wizards: their pages and their JSON API. Owner: calibration helper.

Pages: ``/calibrate/person`` (the slow press that sets a person's own 0-10
scale) and ``/calibrate/platform`` (tare, a known mass, the per-corner check).
API under ``/api/calibrate`` (every POST needs the CSRF header, checked
before any view here runs; every refusal is ``{"error": ...}`` with a 4xx,
503 when the device process is not there):

- ``POST person/begin`` {person, region, body_kg?, ratings?, ramp_s?, sim_follows?}
- ``GET person/status``, ``POST person/mark``, ``POST person/finish``, ``POST person/cancel``
- ``POST platform/begin`` {mass: "5kg" | mass_kg: 5, preset?, fresh?} -> the plan of steps
- ``POST platform/step``, ``GET platform/status``, ``POST platform/finish``, ``POST platform/cancel``

One wizard at a time, of either kind, and none while a coaching session runs.
The wizards themselves are in ``calibrate_person`` and ``calibrate_platform``.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template

from calibration.intensity import ScaleError, check_ratings
from calibration.platform import CalibrationError
from calibration.platform_cal import check_mass_kg, parse_layout, parse_mass
from calibration.platform_geometry import MAX_MASS_KG, MIN_MASS_KG
from calibration.profiles import REGIONS, ProfileError, ProfileStore, person_key, region_key
from calibration.scale_procedure import DEFAULT_RATINGS
from server.web.api import COMMAND_TIMEOUT_S, json_object, now
from server.web.calibrate_person import PersonWizard, WizardRefused, make_procedure
from server.web.calibrate_platform import PlatformWizard, make_procedure as make_platform_procedure
from server.web.calibrate_platform import reference_platform
from server.web.errors import ApiError

bp = Blueprint("calibrate", __name__)

PERSON_FIELDS = frozenset({"person", "region", "body_kg", "ratings", "ramp_s", "sim_follows"})
PLATFORM_FIELDS = frozenset({"mass", "mass_kg", "preset", "fresh"})
#: Coach steps during which no calibration may start (a session is running).
IDLE_STEPS = (None, "screen", "done")


class Slots:
    """The wizard running (at most one), the last results, and whether the link is followed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.person: PersonWizard | None = None
        self.platform: PlatformWizard | None = None
        self.last_person: dict[str, Any] | None = None
        self.last_platform: dict[str, Any] | None = None
        self.subscribed = False

    def forward(self, message: dict[str, Any]) -> None:
        """The device link's listener: frames go to the slow press, if one runs."""
        wizard = self.person
        if wizard is not None:
            wizard.on_message(message)


def slots() -> Slots:
    return current_app.extensions.setdefault("knotcoach_calibrate", Slots())


# -- pages -------------------------------------------------------------------------------

@bp.get("/calibrate/person")
def person_page():
    return render_template("calibrate_person.html", page="calibrate-person", regions=REGIONS,
                           ratings=",".join(f"{r:g}" for r in DEFAULT_RATINGS))


@bp.get("/calibrate/platform")
def platform_page():
    # the page states the masses the API accepts, from the same limits parse_mass checks
    return render_template("calibrate_platform.html", page="calibrate-platform",
                           min_mass_kg=MIN_MASS_KG, max_mass_kg=MAX_MASS_KG)


# -- the device ------------------------------------------------------------------------------

def device():
    dev = current_app.config.get("DEVICE")
    if dev is None:
        raise ApiError(503, "the device process is not running")
    return dev


def caller(dev):
    """``call(name, **args)``: the device's reply, or WizardRefused (400 refused, 503 not there).
    Works outside a request too (no Flask globals)."""
    from firmware.device.channel import ChannelError
    from server.device_link import DeviceUnavailable

    def call(name: str, **args) -> dict[str, Any]:
        try:
            reply = dev.command(name, timeout_s=COMMAND_TIMEOUT_S, **args)
        except DeviceUnavailable as e:
            raise WizardRefused(f"{e}: is the coach running?", 503) from None
        except ChannelError as e:
            raise WizardRefused(f"the command could not be sent: {e}", 400) from None
        if not isinstance(reply, dict) or not reply.get("ok"):
            error = reply.get("error") if isinstance(reply, dict) else None
            raise WizardRefused(str(error or f"the device refused {name}"), 400)
        return reply
    return call


def source_of(dev) -> tuple[str, Any]:
    """(kind, simulator seed or None): as the device says, else as the app was told."""
    source = (getattr(dev, "state", None) or {}).get("source")
    if isinstance(source, dict) and isinstance(source.get("kind"), str):
        return source["kind"], source.get("seed")
    return current_app.config.get("SOURCE_KIND", "simulated"), None


def keeps_simulated() -> bool:
    """Whether results measured on the simulator are stored: not in the default data directory,
    where a real person's and platform's calibrations live (as the terminal commands)."""
    setting = current_app.config.get("KEEP_SIMULATED_CALIBRATIONS")
    if setting is not None:
        return bool(setting)
    from calibration.files import default_data_dir
    return Path(current_app.config["DATA_DIR"]).resolve() != default_data_dir().resolve()


def _idle_device(dev, s: Slots) -> None:
    """409 unless no wizard and no coaching session runs; 503 unless the device is there."""
    if not dev.connected.is_set():
        raise ApiError(503, "the device process is not running: is the coach running?")
    if s.person is not None and not s.person.proc.finished:
        raise ApiError(409, f"a slow press for {s.person.person} is running: cancel it first")
    if s.platform is not None and s.platform.failed is None:
        raise ApiError(409, "a platform calibration is running: cancel it first")
    coach = (getattr(dev, "state", None) or {}).get("coach")
    step = coach.get("step") if isinstance(coach, dict) else None
    if step not in IDLE_STEPS:
        raise ApiError(409, "a coaching session is running: stop it before calibrating")


@bp.app_errorhandler(WizardRefused)
def _refused(e: WizardRefused):
    """A wizard's refusal, wherever in a route it comes from: the JSON 4xx/503 every refusal is."""
    from server.web.errors import error_response
    return error_response(e.status, str(e), **e.extra)


def _check_fields(body: dict[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, f"{what} does not take {', '.join(k[:40] for k in unknown)[:120]} "
                            f"(it takes {', '.join(sorted(allowed))})")


def as_float(value: Any) -> float | None:
    """A JSON number as a finite float; None for anything else (text, true/false, 10**400)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _number(body: dict[str, Any], key: str, lo: float, hi: float, default: float) -> float:
    value = as_float(body.get(key, default))
    if value is None or not lo <= value <= hi:
        raise ApiError(400, f"{key} must be a number from {lo:g} to {hi:g}")
    return value


def _flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise ApiError(400, f"{key} is true or false")
    return value


# -- the personal scale -------------------------------------------------------------------------

@bp.post("/api/calibrate/person/begin")
def person_begin():
    body = json_object()
    _check_fields(body, PERSON_FIELDS, "person/begin")
    try:
        person, region = person_key(body.get("person", "")), region_key(body.get("region", ""))
    except ProfileError as e:
        raise ApiError(400, str(e)) from None
    body_kg = _number(body, "body_kg", 15.0, 300.0, 75.0)
    ramp_s = _number(body, "ramp_s", 10.0, 120.0, 25.0)
    ratings = body.get("ratings", list(DEFAULT_RATINGS))
    if not isinstance(ratings, list) or len(ratings) > 10 or any(as_float(r) is None for r in ratings):
        raise ApiError(400, "ratings is a list of up to 10 rising numbers, e.g. [2, 5, 7]")
    ratings = [as_float(r) for r in ratings]
    try:
        ratings = check_ratings(ratings)
    except ScaleError as e:
        raise ApiError(400, str(e)) from None
    follows = _flag(body, "sim_follows", True)
    store = ProfileStore(current_app.config["DATA_DIR"])
    try:
        store.load(person, region)  # a damaged file is reported before the person lies down
    except ProfileError as e:
        raise ApiError(503, f"stored data cannot be used: {e}") from None
    dev, s = device(), slots()
    kind, _ = source_of(dev)
    with s.lock:
        _idle_device(dev, s)
        call = caller(dev)
        proc = make_procedure(body_kg, ratings, ramp_s)
        steer = None
        if kind == "simulated" and follows:
            def steer(command, **kwargs):
                return call("steer", command=command, kwargs=kwargs)
            for command, kwargs in (("autopilot", {"on": False}), ("set_body_mass", {"mass_kg": body_kg}),
                                    ("lie_down", {"ramp_s": 0.5}),
                                    ("set_force", {"force_n": proc.start_n, "ramp_s": 1.0, "steady": True})):
                steer(command, **kwargs)
        wizard = PersonWizard(person, region, proc, store=store, save=kind != "simulated" or keeps_simulated(),
                              source_kind=kind, steer=steer)
        if not s.subscribed:
            dev.subscribe(s.forward)
            s.subscribed = True
        s.platform, s.person = None, wizard
    return jsonify(wizard.status())


@bp.get("/api/calibrate/person/status")
def person_status():
    wizard = slots().person
    if wizard is None:
        return jsonify({"active": False, "last": slots().last_person})
    return jsonify(wizard.status())


def _person() -> PersonWizard:
    wizard = slots().person
    if wizard is None:
        raise ApiError(409, "no slow press is running: begin one first")
    return wizard


@bp.post("/api/calibrate/person/mark")
def person_mark():
    json_object()
    return jsonify(_person().mark())


@bp.post("/api/calibrate/person/finish")
def person_finish():
    json_object()
    s, wizard = slots(), _person()
    try:
        result = wizard.finish(now().isoformat(timespec="seconds"))
    except WizardRefused as e:
        if e.status == 422:  # the marks cannot make a scale: this press is over, do it again
            with s.lock:
                s.person = None if s.person is wizard else s.person
        raise
    with s.lock:
        s.person = None if s.person is wizard else s.person
        s.last_person = result
    return jsonify(result)


@bp.post("/api/calibrate/person/cancel")
def person_cancel():
    json_object()
    s = slots()
    with s.lock:
        wizard, s.person = s.person, None
    if wizard is not None:
        wizard.cancel()
    return jsonify({"cancelled": wizard is not None})


# -- the platform ----------------------------------------------------------------------------------

@bp.post("/api/calibrate/platform/begin")
def platform_begin():
    body = json_object()
    _check_fields(body, PLATFORM_FIELDS, "platform/begin")
    mass_kg = _mass(body)
    fresh = _flag(body, "fresh", False)
    dev, s = device(), slots()
    info = (getattr(dev, "state", None) or {}).get("platform")
    reference = reference_platform(info)
    if reference is None:
        raise ApiError(503, "the device has not said what platform it reads yet: try again in a moment")
    preset = body.get("preset")
    if preset is not None and (not isinstance(preset, str) or len(preset) > 200):
        raise ApiError(400, "preset is text such as corners:540:340, ends:540, single or cells:X,Y;X,Y")
    try:
        cells_xy = parse_layout(preset) if preset else [(c.x_mm, c.y_mm) for c in reference.cells]
        procedure = make_platform_procedure(cells_xy, mass_kg, reference, reference.n_cells, fresh)
    except CalibrationError as e:
        raise ApiError(400, str(e)) from None
    kind, seed = source_of(dev)
    with s.lock:
        _idle_device(dev, s)
        wizard = PlatformWizard(caller(dev), procedure, simulated=kind == "simulated", seed=seed,
                                save=kind != "simulated" or keeps_simulated())
        s.person, s.platform = None, wizard
    return jsonify(wizard.status())


def _mass(body: dict[str, Any]) -> float:
    if ("mass" in body) == ("mass_kg" in body):
        raise ApiError(400, "give the known mass once: mass as text (5kg, 11lb) or mass_kg as a number")
    try:
        if "mass" in body:
            if not isinstance(body["mass"], str) or len(body["mass"]) > 40:
                raise ApiError(400, "mass is text such as 5kg or 11lb")
            return parse_mass(body["mass"])
        value = as_float(body["mass_kg"])
        if value is None:
            raise ApiError(400, "mass_kg must be a number of kilograms")
        return check_mass_kg(value)
    except CalibrationError as e:
        raise ApiError(400, str(e)) from None


def _platform() -> PlatformWizard:
    wizard = slots().platform
    if wizard is None:
        raise ApiError(409, "no platform calibration is running: begin one first")
    return wizard


@bp.post("/api/calibrate/platform/step")
def platform_step():
    json_object()
    return jsonify(_platform().start_step())


@bp.get("/api/calibrate/platform/status")
def platform_status():
    wizard = slots().platform
    if wizard is None:
        return jsonify({"active": False, "last": slots().last_platform})
    return jsonify(wizard.status())


@bp.post("/api/calibrate/platform/finish")
def platform_finish():
    json_object()
    s, wizard = slots(), _platform()
    kind, _ = source_of(device())
    result = wizard.finish(current_app.config["DATA_DIR"], now().isoformat(timespec="seconds"), kind)
    with s.lock:
        s.platform = None if s.platform is wizard else s.platform
        s.last_platform = result
    return jsonify(result)


@bp.post("/api/calibrate/platform/cancel")
def platform_cancel():
    json_object()
    s = slots()
    with s.lock:
        wizard, s.platform = s.platform, None
    if wizard is not None:
        wizard.cancel()
    return jsonify({"cancelled": wizard is not None})
