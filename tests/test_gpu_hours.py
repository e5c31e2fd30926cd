"""The one count of GPU time (finops.gpu_hours), held to a known time line: for any sampling interval from 1 s to
1 h, with jitter and holes in the data, GPU-hours equal the covered time and idle hours the idle part of it, each
within a sample interval per edge; no hour holds more than an hour of a GPU; and the report's idle figures equal
rule GPU001's, because both read the same relation."""

from __future__ import annotations

import itertools
import random
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finops.gpu_hours import IDLE_STATES, read_gpu_hours
from finops.gpu_watch import rows_to_frame
from finops.schema import COSTS, GPU_SAMPLES
from finops.store import Store, open_store

T0 = datetime(2026, 11, 10, tzinfo=UTC)
INSTANCE = "i-0feed"


@dataclass(frozen=True)
class Timeline:
    """Phases of known state, sampled every `interval` seconds with jitter, and holes where no sample came."""

    start: float  # seconds after T0
    interval: float
    phases: tuple[tuple[float, bool], ...]  # (length in s, busy)
    jitter: float  # share of the interval each sample may be early or late
    holes: tuple[tuple[float, float], ...]  # [from, to) in seconds after start, no samples there
    seed: int

    @property
    def length(self) -> float:
        """Whole sample intervals: the time the samples can cover."""
        return int(sum(p[0] for p in self.phases) / self.interval) * self.interval

    def busy_at(self, offset: float) -> bool:
        edge = 0.0
        for length, busy in self.phases:
            edge += length
            if offset < edge:
                return busy
        return self.phases[-1][1]

    def in_hole(self, offset: float) -> bool:
        return any(lo <= offset < hi for lo, hi in self.holes)

    def samples(self) -> list[tuple[float, bool]]:
        """(offset after start, busy) of each sample taken."""
        rng, taken = random.Random(self.seed), []
        for k in range(int(self.length / self.interval)):
            offset = k * self.interval + rng.uniform(-self.jitter, self.jitter) * self.interval * (k > 0)
            if not self.in_hole(k * self.interval):
                taken.append((offset, self.busy_at(offset)))
        return taken

    def measure(self, busy: bool | None) -> float:
        """Seconds of the sampled span outside the holes (in the given state, or any)."""
        ends = [sum(p[0] for p in self.phases[: i + 1]) for i in range(len(self.phases))]
        cuts = sorted({0.0, self.length, *(min(max(x, 0.0), self.length) for x in (*ends, *sum(self.holes, ())))})
        total = 0.0
        for lo, hi in itertools.pairwise(cuts):
            middle = (lo + hi) / 2
            if not self.in_hole(middle) and (busy is None or self.busy_at(middle) == busy):
                total += hi - lo
        return total

    @property
    def edges(self) -> int:
        return len(self.phases) + 1 + 2 * len(self.holes)


@st.composite
def timelines(draw: st.DrawFn) -> Timeline:
    interval = draw(st.sampled_from([1.0, 15.0, 60.0, 300.0, 3600.0]))
    count = draw(st.integers(1, 4))
    longest = min(6 * 3600.0, interval * 250)  # at most ~1,000 samples an example
    phases = tuple((draw(st.floats(2 * interval, longest)), draw(st.booleans())) for _ in range(count))
    span = sum(p[0] for p in phases)
    holes = tuple(
        (lo, lo + draw(st.floats(3 * interval, 6 * interval))) for lo in draw(st.lists(st.floats(0, span), max_size=2))
    )
    return Timeline(draw(st.floats(0, 86_400)), interval, phases, draw(st.floats(0, 0.2)), holes,
                    draw(st.integers(0, 2**31)))  # fmt: skip


def load(store: Store, timeline: Timeline) -> None:
    rows = [
        {"ts": T0 + timedelta(seconds=timeline.start + offset), "host": "node-1", "instance_id": INSTANCE,
         "gpu_uuid": "GPU-prop", "interval_s": timeline.interval, "sm_active_pct": 97.0 if busy else 0.5,
         "util_gpu_pct": 100.0, "process_count": 1 if busy else 0,
         "x_Day": (T0 + timedelta(seconds=timeline.start + offset)).date()}
        for offset, busy in timeline.samples()
    ]  # fmt: skip
    store.replace_slices(GPU_SAMPLES, [rows_to_frame(GPU_SAMPLES, rows, "prop")], checksum="p", inputs=["prop"])


@given(timelines())
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
def test_gpu_hours_are_the_covered_time_and_idle_hours_its_idle_part(timeline: Timeline) -> None:
    check_hours(timeline)


def check_hours(timeline: Timeline) -> None:
    """(A function of its own so that a longer random run can call it: see benchmarks/README.md.)"""
    with tempfile.TemporaryDirectory() as folder, open_store(Path(folder) / "s.duckdb") as store:
        load(store, timeline)
        hours = read_gpu_hours(store, T0 - timedelta(days=1), T0 + timedelta(days=3))
    tolerance = 1.5 * timeline.interval * timeline.edges  # a sample (with its jitter) at each edge
    covered = sum(h.seconds for h in hours)
    idle = sum(h.seconds_by_state[s] for h in hours for s in IDLE_STATES)
    assert abs(covered - timeline.measure(None)) <= tolerance
    assert abs(idle - timeline.measure(busy=False)) <= tolerance
    assert all(h.seconds <= 3600 + 1e-6 and h.hour.minute == 0 for h in hours)  # an hour holds at most an hour
    assert sum(h.seconds_by_state["unknown"] for h in hours) == 0  # every sample had a signal


def bill(store: Store, hours: int) -> None:
    """One p5.48xlarge (8 GPUs) billed for `hours` hours on T0's day, $98.32 an hour."""
    frame = pl.DataFrame({
        "BillingPeriodStart": [datetime(2026, 11, 1, tzinfo=UTC)],
        "BillingPeriodEnd": [datetime(2026, 12, 1, tzinfo=UTC)],
        "ChargePeriodStart": [T0], "ChargePeriodEnd": [T0 + timedelta(days=1)],
        "BilledCost": [Decimal("98.32") * hours], "EffectiveCost": [Decimal("98.32") * hours],
        "ProviderName": ["AWS"], "ResourceId": [f"arn:aws:ec2:us-east-1:012345678901:instance/{INSTANCE}"],
        "ConsumedQuantity": [Decimal(hours)], "ConsumedUnit": ["Hours"], "ChargeCategory": ["Usage"],
        "BillingCurrency": ["USD"], "x_InstanceType": ["p5.48xlarge"],
    })  # fmt: skip
    from finops.coerce import coerce

    frame = coerce(frame, COSTS, file="bill").with_columns(x_Source=pl.lit("bill"))
    store.replace_slices(COSTS, [frame], checksum="b", inputs=["bill"])


@given(timelines())
@settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
def test_the_report_and_gpu001_count_the_same_idle_hours(timeline: Timeline) -> None:
    check_report_and_rule(timeline)


def check_report_and_rule(timeline: Timeline) -> None:
    from finops.report import ReportOptions, build_report
    from finops.rule_tiers import DuckDBEngine
    from finops.rules_engine import bound_values, load_rules, run_rule

    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "s.duckdb"
        with open_store(db) as store:
            load(store, timeline)
            bill(store, 24)
        start, end = date(2026, 11, 9), date(2026, 11, 14)
        report = build_report(db, ReportOptions(period=f"{start}..{end - timedelta(days=1)}", as_of=str(end)))
        with open_store(db, read_only=True) as store:
            [rule] = [r for r in load_rules() if r.id == "GPU001"]
            overrides = {"min_idle_share": "0", "min_amount": "0"}
            findings = run_rule(store, rule, start, end, overrides)
            heavy = DuckDBEngine(store).fetch(rule, rule.heavy[0], bound_values(rule, overrides, start, end))
    if not timeline.samples():  # every sample fell in a hole: nothing to say, on either side
        assert report.gpu_idle == () and findings == []
        return
    [idle] = report.gpu_idle
    [instance] = heavy.to_pylist()  # the rule's own aggregates, before any rounding
    assert instance["idle_hours"] == pytest.approx(idle.idle_gpu_hours, rel=1e-12, abs=1e-12)
    assert instance["gpu_hours"] == pytest.approx(idle.gpu_hours, rel=1e-12, abs=1e-12)
    if idle.idle_gpu_hours == 0:
        assert not findings or findings[0].evidence["idle_gpu_hours"] == 0
        return
    [finding] = findings
    # the evidence is rounded to 2 places by DuckDB (half away from zero, where Python's round meets binary noise)
    assert finding.evidence["idle_gpu_hours"] == pytest.approx(idle.idle_gpu_hours, abs=0.005 + 1e-9)
    assert finding.evidence["gpu_hours"] == pytest.approx(idle.gpu_hours, abs=0.005 + 1e-9)
