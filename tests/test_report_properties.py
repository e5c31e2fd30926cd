"""Money invariants, with Hypothesis: whatever the rows, every breakdown of the report sums exactly to the
total, and the total is exactly the sum of the rows in the period."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finops.coerce import coerce
from finops.report import ReportOptions, build_report
from finops.schema import COSTS
from finops.store import open_store

START = datetime(2026, 10, 1, tzinfo=UTC)
_counter = itertools.count()

rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(["AWS", "Google Cloud", "Microsoft Azure"]),
        st.sampled_from(["Compute", "Storage", "Network", "Support", "AI"]),
        st.sampled_from([None, "ml", "Team-A", "infra", "data", "web"]),
        st.integers(min_value=0, max_value=59),
        st.decimals(min_value=-5000, max_value=100000, places=9, allow_nan=False, allow_infinity=False),
        st.sampled_from([1, 1, 1, 3, 7, 31, 45]),  # the charge period's length in days: monthly fees are 28-31
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy, top=st.integers(min_value=1, max_value=4))
def test_breakdowns_always_sum_to_the_total(tmp_path: Path, rows: list[tuple], top: int) -> None:
    db = tmp_path / f"prop-{next(_counter)}.duckdb"
    days = [START + timedelta(days=r[3]) for r in rows]
    frame = pl.DataFrame(
        {
            "ProviderName": [r[0] for r in rows],
            "ServiceName": [r[1] for r in rows],
            "Tags": [json.dumps({"team": r[2]}) if r[2] else None for r in rows],
            "ChargePeriodStart": days,
            "ChargePeriodEnd": [d + timedelta(days=r[5]) for d, r in zip(days, rows, strict=True)],
            "BillingPeriodStart": [d.replace(day=1) for d in days],
            "BillingPeriodEnd": [(d.replace(day=1) + timedelta(days=32)).replace(day=1) for d in days],
            "BilledCost": [str(r[4]) for r in rows],
            "EffectiveCost": [str(r[4]) for r in rows],
        }
    )
    frame = coerce(frame, COSTS, file="generated").with_columns(x_Source=pl.lit("prop"))
    with open_store(db) as store:
        store.replace_slices(COSTS, [frame], checksum="p", inputs=["generated"])

    options = ReportOptions(
        period="2026-10-31..2026-11-29", as_of="2026-11-29", group_by="provider,service,team", top=top
    )
    report = build_report(db, options)

    in_period = [r[4] for r in rows if 30 <= r[3] <= 59]
    in_previous = [r[4] for r in rows if 0 <= r[3] < 30]
    assert report.total == sum(in_period, Decimal(0))
    assert report.previous_total == sum(in_previous, Decimal(0))
    for breakdown in report.breakdowns:
        lines = [*breakdown.lines, *([breakdown.other] if breakdown.other else [])]
        assert len(breakdown.lines) <= top
        assert sum((line.amount for line in lines), Decimal(0)) == report.total, breakdown.dimension
        assert sum((line.previous for line in lines), Decimal(0)) == report.previous_total, breakdown.dimension
    assert sum((day.total for day in report.daily), Decimal(0)) == report.total


def test_a_charge_longer_than_a_day_is_spread_over_its_days_in_the_trend(tmp_path: Path) -> None:
    """A month's fee is not a spike on day 1: 300.00 over November's 30 days is 10.00 a day, beside a daily 5.00."""
    db = tmp_path / "spread.duckdb"
    november = datetime(2026, 11, 1, tzinfo=UTC)
    starts = [november, *(november + timedelta(days=d) for d in range(30))]
    frame = pl.DataFrame(
        {
            "ProviderName": ["AWS"] * 31,
            "ChargePeriodStart": starts,
            "ChargePeriodEnd": [datetime(2026, 12, 1, tzinfo=UTC), *(d + timedelta(days=1) for d in starts[1:])],
            "BillingPeriodStart": [november] * 31,
            "BillingPeriodEnd": [datetime(2026, 12, 1, tzinfo=UTC)] * 31,
            "BilledCost": ["300.00"] + ["5.00"] * 30,
            "EffectiveCost": ["300.00"] + ["5.00"] * 30,
        }
    )
    frame = coerce(frame, COSTS, file="generated").with_columns(x_Source=pl.lit("spread"))
    with open_store(db) as store:
        store.replace_slices(COSTS, [frame], checksum="s", inputs=["generated"])
    report = build_report(db, ReportOptions(period="2026-11", as_of="2026-11-30"))
    assert [day.total for day in report.daily] == [Decimal("15.00")] * 30
    assert report.total == Decimal("450.00")
    # 100.00 over 3 days: two shares of 33.333333333333333 and the remainder, so the trend adds up exactly
    with open_store(db) as store:
        store.con.execute(
            'UPDATE costs SET "BilledCost" = 100, "EffectiveCost" = 100, "ChargePeriodEnd" = ? '
            'WHERE "BilledCost" = 300',
            [datetime(2026, 11, 4, tzinfo=UTC)],
        )
    report = build_report(db, ReportOptions(period="2026-11", as_of="2026-11-30"))
    assert sum((day.total for day in report.daily), Decimal(0)) == report.total == Decimal("250.00")
    assert report.daily[0].total == Decimal("5") + Decimal("33.333333333333333")
    assert report.daily[3].total == Decimal("5.00")
