"""Periods of the day 时段 (morning peak, evening peak, night, ...) for trips by period.

A period is a named interval of local clock time, ``HH:MM-HH:MM`` (start included, end
excluded; an end at or before the start wraps past midnight, e.g. ``22:00-06:00``;
``24:00`` is the end of the day). Named periods must not overlap; the minutes they leave
free form the rest period (``trips.rest_period``, default ``off_peak``). Parsing is pure
Python (no Spark): the config checks periods before anything starts, and the same
:class:`Period` objects give the Spark expression (:func:`period_of`) and the truth's
pandas lookup (:func:`minute_table`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mobsig.errors import ConfigError

DAY_MIN = 24 * 60
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class Period:
    """``name`` covers the minutes of the day in [start_min, end_min), wrapping past
    midnight when end_min <= start_min; the rest period has ``minutes`` given instead."""

    name: str
    start_min: int
    end_min: int
    is_rest: bool = False

    def mask(self) -> np.ndarray:
        """Boolean mask over the 1,440 minutes of the day."""
        m = np.arange(DAY_MIN)
        if self.end_min > self.start_min:
            return (m >= self.start_min) & (m < self.end_min)
        return (m >= self.start_min) | (m < self.end_min)

    @property
    def hours(self) -> str:
        """``HH:MM-HH:MM`` (the rest period: ``rest``)."""
        if self.is_rest:
            return "rest"
        return f"{_clock(self.start_min)}-{_clock(self.end_min)}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minute(key: str, text: str) -> int:
    m = TIME_RE.match(text.strip())
    if not m:
        raise ConfigError(f"{key}: {text!r} is not a time; use HH:MM")
    h, mm = int(m.group(1)), int(m.group(2))
    if mm > 59 or h > 24 or (h == 24 and mm):
        raise ConfigError(f"{key}: {text!r} is not a time of day (00:00..24:00)")
    return h * 60 + mm


def parse_periods(periods: Mapping[str, str], rest: str,
                  key: str = "trips.periods") -> list[Period]:
    """The named periods (in the given order) and, when ``rest`` is set, the rest period
    last. Raises ConfigError naming the period for a bad name, time or overlap, for a
    rest period that has no minute left or collides with a name, and for minutes covered
    by no period when ``rest`` is empty."""
    if not periods:
        raise ConfigError(f"{key}: give at least one period, e.g. "
                          "{morning_peak: '07:00-09:00'}")
    out: list[Period] = []
    covered = np.zeros(DAY_MIN, dtype=int)
    owner = np.full(DAY_MIN, "", dtype=object)
    for name, text in periods.items():
        if not NAME_RE.match(name):
            raise ConfigError(f"{key}: period name {name!r} must be lower-case snake_case "
                              "(letters, digits, _; up to 32 characters)")
        parts = str(text).split("-")
        if len(parts) != 2:
            raise ConfigError(f"{key}.{name}: {text!r} is not an interval; use HH:MM-HH:MM")
        start, end = (_minute(f"{key}.{name}", p) for p in parts)
        start %= DAY_MIN
        end %= DAY_MIN
        if start == end:
            raise ConfigError(f"{key}.{name}: {text!r} is empty or the whole day; give a "
                              "start and an end that differ")
        p = Period(name, start, end)
        mask = p.mask()
        clash = sorted({str(o) for o in owner[mask & (covered > 0)]})
        if clash:
            raise ConfigError(f"{key}.{name}: {text!r} overlaps period {clash[0]!r}")
        covered[mask] += 1
        owner[mask] = name
        out.append(p)
    free = int((covered == 0).sum())
    if rest:
        if not NAME_RE.match(rest):
            raise ConfigError(f"trips.rest_period: {rest!r} must be lower-case snake_case")
        if rest in periods:
            raise ConfigError(f"trips.rest_period: {rest!r} is also the name of a period")
        if free == 0:
            raise ConfigError(f"trips.rest_period: {rest!r} has no time left (the periods "
                              "cover the whole day); set trips.rest_period to ''")
        out.append(Period(rest, 0, 0, is_rest=True))
    elif free:
        first = int(np.flatnonzero(covered == 0)[0])
        raise ConfigError(f"{key}: {free} minutes of the day (from {_clock(first)}) are in "
                          "no period and trips.rest_period is empty; name a rest period or "
                          "cover the day")
    return out


def minute_table(periods: list[Period]) -> np.ndarray:
    """The period name of each minute of the day (1,440 entries)."""
    table = np.full(DAY_MIN, "", dtype=object)
    for p in periods:
        if not p.is_rest:
            table[p.mask()] = p.name
    rest = [p.name for p in periods if p.is_rest]
    if rest:
        table[table == ""] = rest[0]
    return table
