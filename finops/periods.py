"""Report periods: what "month to date" means, and the period it is compared with."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from finops.errors import UsageError

PERIOD_HELP = "mtd, last-month, YYYY-MM, 7d/30d/90d, or FROM..TO (YYYY-MM-DD, inclusive)"


@dataclass(frozen=True)
class Period:
    """Days [start, end): end is exclusive, so a month is [Oct 1, Nov 1)."""

    start: date
    end: date
    label: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def _add_months(day: date, months: int) -> date:
    """Same day of another month, clipped to its length (Mar 31 minus one month is Feb 28/29)."""
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def resolve_period(text: str, as_of: date) -> tuple[Period, Period]:
    """The period asked for, ending no later than `as_of` (inclusive), and the one to compare it with."""
    spec = text.strip().lower()
    if spec == "mtd":
        start = as_of.replace(day=1)
        end = as_of + timedelta(days=1)
        prev_start = _add_months(start, -1)
        # Same days of the previous month: Nov 1-20 against Oct 1-20 (clipped at the month's end).
        prev_end = min(_add_months(as_of, -1) + timedelta(days=1), start)
        return (
            Period(start, end, f"{start:%b} 1-{as_of.day}, {start.year}"),
            Period(
                prev_start,
                prev_end,
                f"{prev_start:%b} 1-{(prev_end - timedelta(days=1)).day}, {prev_start.year}",
            ),
        )
    if spec == "last-month":
        this_month = as_of.replace(day=1)
        return _month(_add_months(this_month, -1))
    if re.fullmatch(r"\d{4}-\d{2}", spec):
        year, month = (int(part) for part in spec.split("-"))
        if not 1 <= month <= 12:
            raise UsageError(f"--period {text!r}: no month {month}", hint=PERIOD_HELP)
        return _month(date(year, month, 1))
    if match := re.fullmatch(r"(\d+)d", spec):
        days = int(match.group(1))
        if days < 1:
            raise UsageError(f"--period {text!r}: needs at least one day", hint=PERIOD_HELP)
        end = as_of + timedelta(days=1)
        current = Period(end - timedelta(days=days), end, f"last {days} days to {as_of:%Y-%m-%d}")
        return current, _before(current)
    if ".." in spec:
        first, _, last = spec.partition("..")
        try:
            start, final = date.fromisoformat(first), date.fromisoformat(last)
        except ValueError as e:
            raise UsageError(f"--period {text!r}: {e}", hint=PERIOD_HELP) from e
        if final < start:
            raise UsageError(f"--period {text!r}: ends before it starts", hint=PERIOD_HELP)
        current = Period(start, final + timedelta(days=1), f"{start:%Y-%m-%d} to {final:%Y-%m-%d}")
        return current, _before(current)
    raise UsageError(f"--period {text!r} is not a period I know", hint=PERIOD_HELP)


def _month(first: date) -> tuple[Period, Period]:
    current = Period(first, _add_months(first, 1), f"{first:%B %Y}")
    previous_first = _add_months(first, -1)
    return current, Period(previous_first, first, f"{previous_first:%B %Y}")


def _before(period: Period) -> Period:
    start = period.start - timedelta(days=period.days)
    return Period(start, period.start, f"{start:%Y-%m-%d} to {period.start - timedelta(days=1):%Y-%m-%d}")


def month_bounds(period: str) -> tuple[date, date]:
    """A billing period (YYYY-MM) as days [first, first of the next month)."""
    year, month = (int(part) for part in period.split("-"))
    return date(year, month, 1), date(year + (month == 12), month % 12 + 1, 1)


def month_so_far(period: str, today: date) -> tuple[date, date]:
    """A billing period's days up to and including today (an open month ends tomorrow, not at its end)."""
    start, end = month_bounds(period)
    return start, min(end, today + timedelta(days=1))


def billing_periods_back(today: date, months: int) -> list[str]:
    """The billing periods (YYYY-MM) of the last `months` months up to today's, oldest first: the window a sync
    looks at, because providers restate closed months for weeks."""
    periods = []
    year, month = today.year, today.month
    for _ in range(max(months, 1)):
        periods.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return sorted(periods)
