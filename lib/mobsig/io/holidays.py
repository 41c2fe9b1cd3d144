"""Holiday calendar: which days are workdays (weekdays unless a public holiday, plus
make-up workdays on weekends), and which years the calendar covers: a day outside them
cannot be told a holiday, so a month there fails (or warns, ``home_work.calendar_gap``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from mobsig.errors import ConfigError


@dataclass(frozen=True)
class HolidayCalendar:
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]  # make-up workdays 调休上班
    weekend_days: tuple[int, ...] = (5, 6)
    years: tuple[int, int] | None = None  # first and last year covered (None: no entry)
    source: str = "built-in holidays_cn.yaml"

    def covers(self, day: dt.date) -> bool:
        return self.years is not None and self.years[0] <= day.year <= self.years[1]

    def gap(self, days: list[dt.date]) -> str | None:
        """None when every day is covered, else a message naming the first uncovered
        month and the years covered."""
        out = sorted({(d.year, d.month) for d in days if not self.covers(d)})
        if not out:
            return None
        have = (f"{self.years[0]}-{self.years[1]}" if self.years else "no year")
        months = ", ".join(f"{y}-{m:02d}" for y, m in out[:3]) + (" ..." if len(out) > 3
                                                                  else "")
        return (f"{months} is outside the holiday calendar ({self.source} covers {have}): "
                "its public holidays and make-up workdays are unknown. Give a calendar "
                "with that year in paths.holidays, or set home_work.calendar_gap = warn to "
                "run with weekends as the only days off")

    def is_workday(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() not in self.weekend_days

    def day_type(self, day: dt.date) -> str:
        """``workday``, ``weekend`` or ``holiday``."""
        if self.is_workday(day):
            return "workday"
        return "holiday" if day in self.holidays else "weekend"


def _expand(entries: list, source: str, key: str) -> set[dt.date]:
    out: set[dt.date] = set()
    for e in entries or []:
        try:
            if isinstance(e, list):
                a, b = (x if isinstance(x, dt.date) else dt.date.fromisoformat(str(x)) for x in e)
                if b < a:
                    raise ValueError("range ends before it starts")
                out.update(a + dt.timedelta(days=i) for i in range((b - a).days + 1))
            else:
                out.add(e if isinstance(e, dt.date) else dt.date.fromisoformat(str(e)))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{source}: bad {key} entry {e!r}: {exc}") from None
    return out


def load_calendar(path: str | Path | None = None,
                  weekend_days: tuple[int, ...] = (5, 6)) -> HolidayCalendar:
    """Load a calendar YAML (``holidays`` and ``workdays`` lists of dates or [from, to])."""
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"paths.holidays: {str(p)!r} does not exist")
        text, source = p.read_text("utf-8"), str(p)
    else:
        text = resources.files("mobsig").joinpath("data/holidays_cn.yaml").read_text("utf-8")
        source = "built-in holidays_cn.yaml"
    d = yaml.safe_load(text) or {}
    unknown = set(d) - {"holidays", "workdays", "years"}
    if unknown:
        raise ConfigError(f"{source}: unknown keys {sorted(unknown)}; allowed: holidays, "
                          "workdays, years")
    hol = _expand(d.get("holidays"), source, "holidays")
    work = _expand(d.get("workdays"), source, "workdays")
    both = hol & work
    if both:
        raise ConfigError(f"{source}: days both holiday and workday: {sorted(both)}")
    return HolidayCalendar(frozenset(hol), frozenset(work), tuple(weekend_days),
                           _years(d.get("years"), hol | work, source), source)


def _years(value, days: set[dt.date], source: str) -> tuple[int, int] | None:
    """The years covered: ``years: [first, last]`` (or one year) when given, else the
    years of the entries (a year without any entry is not covered)."""
    if value is None:
        return (min(d.year for d in days), max(d.year for d in days)) if days else None
    v = value if isinstance(value, list) else [value, value]
    if (len(v) != 2 or not all(isinstance(y, int) and 1900 <= y <= 2100 for y in v)
            or v[1] < v[0]):
        raise ConfigError(f"{source}: years must be a year or [first, last] (e.g. "
                          f"[2016, 2026]), got {value!r}")
    outside = sorted(d for d in days if not v[0] <= d.year <= v[1])
    # a holiday run may start in the last days of the year before (元旦 from 12-30)
    if any(not (d.month == 12 and d.year == v[0] - 1) for d in outside):
        raise ConfigError(f"{source}: entries outside its years {v}: {outside[:3]}")
    return (v[0], v[1])


def calendar_of(cfg) -> HolidayCalendar:
    """The calendar of a configuration: paths.holidays (or the built-in Chinese one) with
    home_work.weekend_days. A bad file is a ConfigError (checked before Spark starts)."""
    return load_calendar(cfg.path("holidays") if cfg.paths.holidays else None,
                         cfg.home_work.weekend_days)


def workday_calendar(cfg, log) -> HolidayCalendar:
    """:func:`calendar_of`, saying in the log which calendar decides the workdays when no
    paths.holidays is given (the built-in national one)."""
    cal = calendar_of(cfg)
    if not cfg.paths.holidays:
        log.info("no paths.holidays: workdays follow the %s (national public holidays and "
                 "make-up workdays, %s); give a local calendar with paths.holidays",
                 cal.source, "-".join(map(str, cal.years or ())) or "no year")
    return cal


def check_coverage(cfg, days: list[dt.date], log=None) -> bool:
    """Whether the configuration's calendar covers ``days``; when it does not, a
    ConfigError (``home_work.calendar_gap = fail``, the default) or a warning."""
    msg = calendar_of(cfg).gap(days)
    if msg is None:
        return True
    if cfg.home_work.calendar_gap == "fail":
        raise ConfigError(msg)
    if log is not None:
        log.warning("%s (home_work.calendar_gap = warn)", msg)
    return False
