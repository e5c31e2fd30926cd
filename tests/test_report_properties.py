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
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy, top=st.integers(min_value=1, max_value=4))
def test_breakdowns_always_sum_to_the_total(tmp_path: Path, rows: list[tuple], top: int) -> None:
    db = tmp_path / f"prop-{next(_counter)}.duckdb"
    days = [START + timedelta(days=offset) for *_, offset, _ in rows]
    frame = pl.DataFrame(
        {
            "ProviderName": [r[0] for r in rows],
            "ServiceName": [r[1] for r in rows],
            "Tags": [json.dumps({"team": r[2]}) if r[2] else None for r in rows],
            "ChargePeriodStart": days,
            "ChargePeriodEnd": [d + timedelta(days=1) for d in days],
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
