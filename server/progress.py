"""Progress across days, from stored sessions: pure, every date passed in.

A *knot* is one person's sessions on one body region at about the same
position (within ``same_knot_mm``, 40 mm by default; sessions where no knot
was marked form a knot of their own per region). From a knot's sessions:

- ``dose_check``: before a session, the once-a-day guard and the 10-minute
  daily cap (the seconds still allowed today, for the device's timer);
- ``trend``: over the last 3-5 days, tenderness before and after and time in band;
- ``recurring``: the spot keeps coming back (settled to 2/10 or less, then tender
  again; or worked on over more than two weeks without settling) -> look for the cause;
- ``maintenance``: once settled, a short session 2-3 times a week;
- ``next_day_question`` / ``judge_next_day``: "how tender is it now?" the day after.

``report`` gathers them for one person. Days are calendar days in the time
zone of ``now_iso``. Nothing here reads a clock, a file or a database.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

DISCLAIMER = "This is information, not medical advice: for a medical concern see a clinician."
CAUSES = ("A knot that keeps returning usually has a cause elsewhere: how you sit or hold your phone "
          "(head pushed forward, 'tech neck'), a weak muscle nearby that leaves this one doing its work, or a "
          "squat or deadlift pattern that loads one side more. Rolling eases the knot but cannot fix the cause: "
          "a physiotherapist or another professional can find it with you.")


@dataclass(frozen=True)
class WarningEvent:
    """One warning during a session, in session seconds; ``end_t_s`` None while it is on."""

    name: str
    start_t_s: float
    end_t_s: float | None


@dataclass(frozen=True)
class NextDay:
    """The answer to "how tender is the knot now?" asked after a session."""

    asked_at: str
    tenderness: float
    bruising: bool | None


@dataclass(frozen=True)
class Session:
    """One stored session (``server.store`` reads and writes them)."""

    id: int
    person: str
    region: str
    tool: str
    knot_x_mm: float | None
    knot_y_mm: float | None
    started_at: str
    ended_at: str | None
    outcome: str
    pain_before: float | None
    pain_after: float | None
    elapsed_s: float
    time_in_band_s: float
    cycles_done: int
    recording_path: str | None
    step: str | None
    warnings: tuple[WarningEvent, ...] = ()
    next_day: NextDay | None = None

    def warning_totals(self) -> dict[str, tuple[int, float]]:
        """Per warning name: how many times and for how many seconds (an open one runs to ``elapsed_s``)."""
        totals: dict[str, tuple[int, float]] = {}
        for w in self.warnings:
            end = w.end_t_s if w.end_t_s is not None else max(self.elapsed_s, w.start_t_s)
            count, seconds = totals.get(w.name, (0, 0.0))
            totals[w.name] = (count + 1, seconds + end - w.start_t_s)
        return totals

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ProgressSettings:
    same_knot_mm: float = 40.0       # sessions this close are on the same knot
    daily_cap_s: float = 600.0       # at most 10 minutes per knot per day
    trend_days: int = 5              # the trend looks back this many days...
    trend_min_days: int = 3          # ...and needs this many days with a session
    resolved_pain: float = 2.0       # tenderness at or below this: settled
    active_pain: float = 4.0         # at or above this after settling: back again
    recurring_span_days: int = 14    # worked on longer than this without settling: recurring
    maintenance_every_days: int = 3  # once settled, a session about every 3 days (2-3 a week)

    def __post_init__(self) -> None:
        checks = [(10 <= self.same_knot_mm <= 150, "same_knot_mm must be 10-150"),
                  (60 <= self.daily_cap_s <= 1800, "daily_cap_s must be 60-1800"),
                  (2 <= self.trend_min_days <= self.trend_days <= 14, "need 2 <= trend_min_days <= trend_days <= 14"),
                  (0 <= self.resolved_pain < self.active_pain <= 10, "need 0 <= resolved_pain < active_pain <= 10"),
                  (7 <= self.recurring_span_days <= 90, "recurring_span_days must be 7-90"),
                  (1 <= self.maintenance_every_days <= 7, "maintenance_every_days must be 1-7")]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


@dataclass(frozen=True)
class Advice:
    kind: str   # second_today, over_cap, trend, recurring, maintenance, next_day, next_day_answer
    text: str
    session_id: int | None = None  # the session it is about, where there is one


@dataclass(frozen=True)
class Knot:
    person: str
    region: str
    x_mm: float | None  # where it was last marked
    y_mm: float | None
    sessions: tuple[Session, ...]  # oldest first

    @property
    def name(self) -> str:
        if self.x_mm is None:
            return f"{self.region} (no knot marked)"
        where = f"{self.x_mm:.0f} mm" if self.y_mm is None else f"{self.x_mm:.0f}, {self.y_mm:.0f} mm"
        return f"{self.region} knot at {where}"


@dataclass(frozen=True)
class DoseCheck:
    seconds_left: float            # still allowed on this knot today
    advice: tuple[Advice, ...]     # empty when a session is fine


@dataclass(frozen=True)
class DayPoint:
    day: date
    pain_before: float | None      # the day's first session
    pain_after: float | None       # the day's last session
    time_in_band_s: float


@dataclass(frozen=True)
class Trend:
    days: tuple[DayPoint, ...]
    verdict: str                   # better, same, worse
    text: str


def _moment(iso: str) -> datetime:
    when = datetime.fromisoformat(iso)
    if when.tzinfo is None:
        raise ValueError(f"a date-time needs a UTC offset: {iso!r}")
    return when


def _day(iso: str, now: datetime) -> date:
    return _moment(iso).astimezone(now.tzinfo).date()


def _near(a: tuple[float | None, float | None], b: tuple[float | None, float | None], mm: float) -> bool:
    if a[0] is None or b[0] is None:
        return a[0] is None and b[0] is None
    dy = (a[1] - b[1]) if a[1] is not None and b[1] is not None else 0.0
    return math.hypot(a[0] - b[0], dy) <= mm


def group_knots(sessions, settings: ProgressSettings = ProgressSettings()) -> list[Knot]:
    """Sessions grouped into knots; each session joins the nearest knot (by its latest mark) within reach."""
    open_knots: list[list] = []  # [person, region, (x, y), [sessions]]
    for s in sorted(sessions, key=lambda s: (_moment(s.started_at), s.id)):
        here = (s.knot_x_mm, s.knot_y_mm)
        near = [k for k in open_knots if (k[0], k[1]) == (s.person, s.region) and _near(k[2], here, settings.same_knot_mm)]
        if near:
            knot = min(near, key=lambda k: 0.0 if here[0] is None else abs(k[2][0] - here[0]))
            knot[2], knot[3] = here, knot[3] + [s]
        else:
            open_knots.append([s.person, s.region, here, [s]])
    return [Knot(p, r, xy[0], xy[1], tuple(ss)) for p, r, xy, ss in open_knots]


def dose_check(sessions, person: str, region: str, x_mm: float | None, y_mm: float | None, now_iso: str,
               settings: ProgressSettings = ProgressSettings()) -> DoseCheck:
    """Before a session on a knot: was it worked today already, and how much time is left today.

    Before the knot is marked (``x_mm`` None) every session on the region today counts, and so
    do today's sessions where no knot was marked: the guard errs on the side of warning.
    """
    now = _moment(now_iso)
    today = [s for s in sessions if (s.person, s.region) == (person, region)
             and (x_mm is None or s.knot_x_mm is None
                  or _near((s.knot_x_mm, s.knot_y_mm), (x_mm, y_mm), settings.same_knot_mm))
             and _day(s.started_at, now) == now.date()]
    used_s = sum(s.elapsed_s for s in today)
    left_s = max(0.0, settings.daily_cap_s - used_s)
    advice = []
    if today:
        first = min(today, key=lambda s: _moment(s.started_at))
        what = f"your {region}" if x_mm is None else f"this {region} knot"
        advice.append(Advice("second_today", f"You already worked {what} today (at "
                             f"{_moment(first.started_at).astimezone(now.tzinfo):%H:%M}). Once a day is enough: "
                             "more irritates the tissue instead of calming it. Give it until tomorrow.", first.id))
    if left_s <= 0:
        advice.append(Advice("over_cap", f"This knot has had {used_s / 60:.0f} minutes today and "
                             f"{settings.daily_cap_s / 60:.0f} a day is the most that helps: stop here for today."))
    return DoseCheck(left_s, tuple(advice))


def trend(knot: Knot, now_iso: str, settings: ProgressSettings = ProgressSettings()) -> Trend | None:
    """The last ``trend_days`` days, one point per day with a session; None with too few days."""
    now = _moment(now_iso)
    first_day = now.date() - timedelta(days=settings.trend_days - 1)
    by_day: dict[date, list[Session]] = {}
    for s in knot.sessions:
        day = _day(s.started_at, now)
        if first_day <= day <= now.date():
            by_day.setdefault(day, []).append(s)
    if len(by_day) < settings.trend_min_days:
        return None
    points = tuple(DayPoint(d, ss[0].pain_before, ss[-1].pain_after, sum(s.time_in_band_s for s in ss))
                   for d, ss in sorted(by_day.items()))
    rated = [p.pain_before for p in points if p.pain_before is not None]
    change = rated[-1] - rated[0] if len(rated) >= 2 else 0.0
    verdict = "better" if change <= -2 else "worse" if change >= 1 else "same"
    parts = [_arrow("tender before", [p.pain_before for p in points], "/10"),
             _arrow("after", [p.pain_after for p in points], "/10"),
             _arrow("time in the band", [p.time_in_band_s for p in points], " s")]
    text = f"{knot.name}, {len(points)} days: " + "; ".join(p for p in parts if p) + ". "
    if verdict == "better":
        text += "Clearly easing: keep to once a day until it stays at 2/10 or less."
    elif verdict == "worse":
        text += ("More tender than a few days ago: leave it alone for a few days and press lighter next time. "
                 "If it stays sore, swells or hurts sharply when you move, see a professional.")
    else:
        text += ("Not clearly easing yet. Stay in the 4-5 band and off the knot itself; if a few more days "
                 "bring no change, have a professional look at it.")
    return Trend(points, verdict, text)


def _arrow(what: str, values, unit: str) -> str:
    known = [v for v in values if v is not None]
    return f"{what} {known[0]:.0f}{unit} -> {known[-1]:.0f}{unit}" if len(known) >= 2 else ""


def _readings(knot: Knot) -> list[tuple[datetime, float]]:
    """How tender the knot was when not just rolled: before each session, and the next-day answers."""
    out = [(_moment(s.started_at), s.pain_before) for s in knot.sessions if s.pain_before is not None]
    out += [(_moment(s.next_day.asked_at), s.next_day.tenderness) for s in knot.sessions if s.next_day]
    return sorted(out, key=lambda r: r[0])


def is_settled(knot: Knot, settings: ProgressSettings = ProgressSettings()) -> bool:
    readings = _readings(knot)
    return bool(readings) and readings[-1][1] <= settings.resolved_pain


def recurring(knot: Knot, settings: ProgressSettings = ProgressSettings()) -> Advice | None:
    """The spot keeps coming back: settled then tender again, or weeks of sessions without settling."""
    readings = _readings(knot)
    settled_at = None
    for when, pain in readings:
        if pain <= settings.resolved_pain:
            settled_at = settled_at or when
        elif settled_at and pain >= settings.active_pain:
            return Advice("recurring", f"The {knot.name} is back: it had settled by {settled_at:%d %b} and was "
                          f"{pain:.0f}/10 again on {when:%d %b}. {CAUSES} {DISCLAIMER}", knot.sessions[-1].id)
    if knot.sessions and readings:
        span = _moment(knot.sessions[-1].started_at) - _moment(knot.sessions[0].started_at)
        if span > timedelta(days=settings.recurring_span_days) and readings[-1][1] > settings.resolved_pain:
            return Advice("recurring", f"You have worked the {knot.name} for {span.days} days and it is still "
                          f"{readings[-1][1]:.0f}/10. {CAUSES} {DISCLAIMER}", knot.sessions[-1].id)
    return None


def maintenance(knot: Knot, now_iso: str, settings: ProgressSettings = ProgressSettings()) -> Advice | None:
    """Once settled: a reminder when the last session is ``maintenance_every_days`` or more ago."""
    if not knot.sessions or not is_settled(knot, settings):
        return None
    now = _moment(now_iso)
    days = (now.date() - _day(knot.sessions[-1].started_at, now)).days
    if days < settings.maintenance_every_days:
        return None
    return Advice("maintenance", f"The {knot.name} has settled. To keep it that way, give it a short, gentle "
                  f"session 2-3 times a week, best after a workout; the last one was {days} days ago.",
                  knot.sessions[-1].id)


def next_day_question(knot: Knot, now_iso: str) -> Advice | None:
    """Ask how tender the knot is, the day (or two) after its last session, once."""
    if not knot.sessions:
        return None
    last, now = knot.sessions[-1], _moment(now_iso)
    if last.next_day is not None or not 1 <= (now.date() - _day(last.started_at, now)).days <= 2:
        return None
    before = f" (it was {last.pain_before:.0f}/10 before that session)" if last.pain_before is not None else ""
    return Advice("next_day", f"How tender is the {knot.name} now, 0-10{before}? It should feel clearly "
                  "better, with no bruise.", last.id)


def judge_next_day(session: Session, tenderness: float, bruising: bool | None) -> Advice:
    """What the next-day answer means (the answer itself goes to ``SessionStore.record_next_day``)."""
    if bruising:
        text = ("A bruise means the pressure was too much. Leave this spot until the bruise has gone, then "
                "press lighter, in the 4-5 band.")
    elif session.pain_before is not None and tenderness >= session.pain_before:
        text = (f"No easier than before the session ({session.pain_before:.0f} -> {tenderness:.0f}/10). Next "
                "time press lighter and stay off the knot itself. If it is sharp, swollen or worse when you "
                "move, it may be an injury rather than a knot: see a professional.")
    else:
        text = f"Good: {tenderness:.0f}/10 today. One session a day until it stays at 2/10 or less."
    return Advice("next_day_answer", text, session.id)


def report(sessions, person: str, now_iso: str, settings: ProgressSettings = ProgressSettings()) -> list[Advice]:
    """Everything worth saying to ``person`` now, their most recently worked knot first."""
    knots = [k for k in group_knots(sessions, settings) if k.person == person]
    knots.sort(key=lambda k: _moment(k.sessions[-1].started_at), reverse=True)
    advice: list[Advice] = []
    for knot in knots:
        found = [next_day_question(knot, now_iso), trend(knot, now_iso, settings),
                 recurring(knot, settings), maintenance(knot, now_iso, settings)]
        advice += [Advice("trend", a.text, knot.sessions[-1].id) if isinstance(a, Trend) else a
                   for a in found if a is not None]
    return advice
