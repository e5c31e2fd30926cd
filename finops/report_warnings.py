"""What a report's figures cannot tell by themselves: a period with no data, a comparison window only partly
loaded, a tag key no cost row carries. Each becomes a warning (stderr, and the JSON report's `warnings`) and a
`coverage` entry, so a CI job can tell "$0.00" from "nothing loaded" and "+231.7%" from "half a month loaded".
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from finops.periods import Period
from finops.store import Store

EPOCH = date(1970, 1, 1)
KNOWN_KEYS_SHOWN = 20


@dataclass(frozen=True)
class Coverage:
    """The days of one window that hold cost data (a day counts when a line item of at most a day starts on it;
    a store of monthly line items only counts the days those items span)."""

    window: Period
    days_with_data: tuple[date, ...]

    @property
    def empty(self) -> bool:
        return not self.days_with_data

    @property
    def complete(self) -> bool:
        return len(self.days_with_data) == self.window.days

    def runs(self) -> str:
        """The days as runs: 2026-10-15..2026-10-20, 2026-10-25."""
        return day_runs(self.days_with_data)


def day_runs(days: tuple[date, ...] | list[date]) -> str:
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and day - runs[-1][1] == timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs)


def read_coverage(
    store: Store, period: Period, previous: Period, span: tuple[datetime, datetime]
) -> dict[str, Coverage]:
    """Coverage of the period and of the one it is compared with, from one query over both windows."""
    rows = store.fetch(
        # Days as integers (86,400,000,000 µs each), as the report's daily trend counts them.
        'SELECT DISTINCT epoch_us("ChargePeriodStart") // 86400000000, '
        '(epoch_us(coalesce("ChargePeriodEnd", "ChargePeriodStart")) - 1) // 86400000000 FROM costs '
        'WHERE "ChargePeriodStart" >= ? AND "ChargePeriodStart" < ?',
        list(span),
    )
    daily = {EPOCH + timedelta(days=first) for first, last in rows if last <= first}
    spans = set() if daily else {EPOCH + timedelta(days=d) for first, last in rows for d in range(first, last + 1)}
    days = daily or spans
    return {
        name: Coverage(window, tuple(sorted(d for d in days if window.start <= d < window.end)))
        for name, window in (("period", period), ("previous", previous))
    }


def coverage_warnings(store: Store, coverage: dict[str, Coverage]) -> list[str]:
    current, previous = coverage["period"], coverage["previous"]
    warnings = []
    if current.empty:
        first, last = store.fetch('SELECT min("ChargePeriodStart"), max("ChargePeriodStart") FROM costs')[0]
        held = f"the store's cost data runs {first.date()}..{last.date()}" if first else "the store has no cost data"
        warnings.append(
            f"no cost data for {current.window.label} ({_window(current.window)}): its total is unknown, not zero; "
            f"{held}"
        )
    elif not current.complete:
        warnings.append(
            f"{current.window.label} ({_window(current.window)}) has cost data on only "
            f"{len(current.days_with_data)} of {current.window.days} days ({current.runs()}): its total covers "
            "those days only"
        )
    if previous.empty:
        warnings.append(
            f"no cost data for the comparison window {previous.window.label} ({_window(previous.window)}): "
            "there is no change to show"
        )
    elif not previous.complete:
        warnings.append(
            f"the comparison window {previous.window.label} ({_window(previous.window)}) has cost data on only "
            f"{len(previous.days_with_data)} of {previous.window.days} days ({previous.runs()}): the change compares "
            "against a partly loaded window"
        )
    return warnings


def unknown_tag_warnings(store: Store, tag_keys: list[str], span: tuple[datetime, datetime]) -> list[str]:
    """A tag key that no cost row in either window carries: every amount would show as (untagged), silently."""
    if not tag_keys:
        return []
    rows = store.fetch(
        'SELECT DISTINCT unnest(map_keys("Tags")) FROM costs '
        'WHERE "ChargePeriodStart" >= ? AND "ChargePeriodStart" < ?',
        list(span),
    )
    known = sorted(str(k) for (k,) in rows if k)
    warnings = []
    for key in tag_keys:
        if key in known:
            continue
        if not known:
            listing = "no cost row in these windows has tags"
        else:
            close = difflib.get_close_matches(key, known, n=1)
            listing = (f"did you mean {close[0]!r}? " if close else "") + "known tag keys: "
            listing += ", ".join(known[:KNOWN_KEYS_SHOWN])
            if len(known) > KNOWN_KEYS_SHOWN:
                listing += f" (and {len(known) - KNOWN_KEYS_SHOWN} more)"
        warnings.append(f"--group-by tag:{key}: no cost row in these windows has the tag {key!r}, so all spend shows "
                        f"as (untagged); {listing}")  # fmt: skip
    return warnings


def coverage_dict(coverage: dict[str, Coverage]) -> dict[str, Any]:
    """The JSON report's `coverage`: per window, its days and the days with data (as runs)."""
    return {
        name: {
            "days": c.window.days,
            "days_with_data": len(c.days_with_data),
            "with_data": c.runs(),
        }
        for name, c in coverage.items()
    }


def _window(period: Period) -> str:
    return f"{period.start}..{period.end - timedelta(days=1)}"
