"""Shared command-line arguments of the jobs: dates, months, ranges and regions.

Daily jobs take ``--date D`` or ``--from A --to B`` (a backfill runs the days in order);
monthly jobs take ``--month M`` or ``--from-month A --to-month B``. ``--region`` takes one
or several admin codes (comma-separated or repeated). Everything is validated before any
Spark work starts, with a ConfigError that names the option.
"""

from __future__ import annotations

import argparse
import datetime as dt

from mobsig.config import date_range, parse_date, parse_month
from mobsig.errors import ConfigError


def add_day_arguments(p: argparse.ArgumentParser, region: bool = True) -> None:
    g = p.add_argument_group("partition")
    g.add_argument("--date", help="day to process, YYYY-MM-DD")
    g.add_argument("--from", dest="date_from", metavar="A",
                   help="first day of a backfill range, YYYY-MM-DD (with --to)")
    g.add_argument("--to", dest="date_to", metavar="B", help="last day of a backfill range")
    if region:
        g.add_argument("--region", action="append", default=[], metavar="CODE[,CODE]",
                       help="process only these region codes (admin codes at "
                            "run.region_level); default: every region")


def add_month_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("partition")
    g.add_argument("--month", help="month to process, YYYY-MM")
    g.add_argument("--from-month", dest="month_from", metavar="A",
                   help="first month of a backfill range, YYYY-MM (with --to-month)")
    g.add_argument("--to-month", dest="month_to", metavar="B", help="last month of the range")
    g.add_argument("--window-days", dest="window_days", type=int, metavar="N",
                   help="the month's data covers only N days (e.g. 2): scale every day-count "
                        "threshold by N/30 (same as --set run.window_days=N)")


def days(args: argparse.Namespace) -> list[dt.date]:
    """The days named by --date or --from/--to (exactly one form), validated."""
    one = getattr(args, "date", None)
    a, b = getattr(args, "date_from", None), getattr(args, "date_to", None)
    if one and (a or b):
        raise ConfigError("give either --date or --from/--to, not both")
    if one:
        return [parse_date(one, "--date")]
    if a and b:
        return date_range(parse_date(a, "--from"), parse_date(b, "--to"))
    if a or b:
        raise ConfigError("--from and --to go together")
    raise ConfigError("a day is required: --date YYYY-MM-DD or --from A --to B")


def months(args: argparse.Namespace) -> list[dt.date]:
    """First days of the months named by --month or --from-month/--to-month."""
    one = getattr(args, "month", None)
    a, b = getattr(args, "month_from", None), getattr(args, "month_to", None)
    if one and (a or b):
        raise ConfigError("give either --month or --from-month/--to-month, not both")
    if one:
        return [parse_month(one, "--month")]
    if a and b:
        start, end = parse_month(a, "--from-month"), parse_month(b, "--to-month")
        if end < start:
            raise ConfigError(f"--from-month {a} is after --to-month {b}")
        out, m = [], start
        while m <= end:
            out.append(m)
            m = (m.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return out
    if a or b:
        raise ConfigError("--from-month and --to-month go together")
    raise ConfigError("a month is required: --month YYYY-MM or --from-month A --to-month B")


def month_days(month: dt.date) -> list[dt.date]:
    """Every day of the month starting at ``month`` (its first day)."""
    nxt = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return date_range(month, nxt - dt.timedelta(days=1))


def month_key(month: dt.date) -> str:
    return month.strftime("%Y-%m")


def regions(args: argparse.Namespace) -> list[str] | None:
    """Region codes from --region (None = every region); each must be 2-12 digits."""
    raw = [c.strip() for v in (getattr(args, "region", None) or []) for c in v.split(",")]
    codes = sorted({c for c in raw if c})
    bad = [c for c in codes if not (c.isdigit() and 2 <= len(c) <= 12)]
    if bad:
        raise ConfigError(f"--region: {bad} are not admin codes (digits, e.g. 510104)")
    return codes or None
