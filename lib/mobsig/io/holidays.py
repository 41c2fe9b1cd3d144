"""Holiday calendar: which days are workdays (weekdays unless a public holiday, plus
make-up workdays on weekends)."""

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
    unknown = set(d) - {"holidays", "workdays"}
    if unknown:
        raise ConfigError(f"{source}: unknown keys {sorted(unknown)}; allowed: holidays, workdays")
    hol = _expand(d.get("holidays"), source, "holidays")
    work = _expand(d.get("workdays"), source, "workdays")
    both = hol & work
    if both:
        raise ConfigError(f"{source}: days both holiday and workday: {sorted(both)}")
    return HolidayCalendar(frozenset(hol), frozenset(work), tuple(weekend_days))


def calendar_of(cfg) -> HolidayCalendar:
    """The calendar of a configuration: paths.holidays (or the built-in Chinese one) with
    home_work.weekend_days. A bad file is a ConfigError (checked before Spark starts)."""
    return load_calendar(cfg.path("holidays") if cfg.paths.holidays else None,
                         cfg.home_work.weekend_days)
