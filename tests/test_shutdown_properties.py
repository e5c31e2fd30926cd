"""The rails as properties, with Hypothesis: whatever the fleet, no plan ever stops a protected instance, the caps
always hold, nothing stops without an earlier mark, and `apply` with shutdown disabled touches no cloud at all.

The cloud here is an in-memory model that records every call (the SDK clients are tested against real protocol
peers in test_shutdown_aws.py and test_shutdown_rest.py); the store and the telemetry are real."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from finops.coerce import coerce
from finops.connectors.compute_common import InstanceFacts
from finops.errors import UsageError
from finops.gpu_watch import rows_to_frame
from finops.schema import COSTS, GPU_SAMPLES
from finops.shutdown_apply import apply_shutdown
from finops.shutdown_plan import make_plan, parse_when
from finops.shutdown_policy import ShutdownPolicy
from finops.store import open_store

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
_counter = itertools.count()


@dataclass
class Cloud:
    """EC2 as a dictionary. Every call is recorded; a mutating call is one that tags, untags or stops."""

    facts: dict[str, InstanceFacts]
    calls: list[tuple[str, str]] = field(default_factory=list)
    provider: str = "AWS"

    def describe(self, instances: list[str]) -> dict[str, InstanceFacts]:
        self.calls.extend(("describe", i) for i in instances)
        return {i: self.facts.get(i, InstanceFacts(i, "AWS", "missing")) for i in instances}

    def tag(self, instance: str, tags: dict[str, str]) -> None:
        self.calls.append(("tag", instance))
        fact = self.facts[instance]
        self.facts[instance] = replace(fact, tags={**fact.tags, **tags})

    def untag(self, instance: str, keys: list[str]) -> None:
        self.calls.append(("untag", instance))
        fact = self.facts[instance]
        self.facts[instance] = replace(fact, tags={k: v for k, v in fact.tags.items() if k not in keys})

    def stop(self, instance: str, *, discard_local_disks: bool) -> None:
        self.calls.append(("stop", instance))
        self.facts[instance] = replace(self.facts[instance], state="stopped")


rarely = st.sampled_from([False, False, False, True])  # each protection on a quarter of instances: most may stop
fleet = st.lists(
    st.fixed_dictionaries({
        "idle_minutes": st.sampled_from([0, 10, 59, 61, 180, 180]),
        "stale": rarely,
        "keep_alive": rarely,
        "snooze": st.sampled_from([None, None, -1, 1]),  # days from now
        "managed": rarely,
        "local_disks": rarely,
        "committed": rarely,
        "state": st.sampled_from(["running", "running", "running", "stopped"]),
        "rate": st.sampled_from(["3.06", "12.24", "98.32", "32.77"]),
    }),
    min_size=1, max_size=8,
)  # fmt: skip
policies = st.builds(
    ShutdownPolicy, enabled=st.just(True), max_instances=st.integers(1, 4),
    max_per_hour=st.sampled_from([10.0, 50.0, 150.0, 1000.0]), allow_local_disk_loss=st.booleans(),
    grace_minutes=st.sampled_from([1, 30]),
)  # fmt: skip


def _arn(n: int) -> str:
    return f"arn:aws:ec2:us-east-1:111122223333:instance/i-{n:017x}"


def _world(tmp: Path, instances: list[dict]) -> tuple[Path, Cloud]:
    db = tmp / f"fleet-{next(_counter)}.duckdb"
    samples, costs, facts = [], [], {}
    for n, spec in enumerate(instances):
        arn, end = _arn(n), NOW - timedelta(minutes=90 if spec["stale"] else 0)
        for step in range(48):
            ts = end - timedelta(minutes=5 * step)
            idle = spec["idle_minutes"] and ts >= NOW - timedelta(minutes=spec["idle_minutes"])
            samples.append({"ts": ts, "instance_id": arn, "gpu_uuid": f"g{n}", "interval_s": 300.0,
                            "sm_active_pct": 0.0 if idle else 70.0, "process_count": 0 if idle else 1,
                            "x_Day": ts.date()})  # fmt: skip
        day = datetime(2026, 11, 21, tzinfo=UTC)
        costs.append({"ResourceId": arn, "ChargePeriodStart": day, "ChargePeriodEnd": day + timedelta(days=1),
                      "BillingPeriodStart": datetime(2026, 11, 1, tzinfo=UTC),
                      "BillingPeriodEnd": datetime(2026, 12, 1, tzinfo=UTC),
                      "EffectiveCost": str(Decimal(spec["rate"]) * 24), "BilledCost": "0", "ConsumedQuantity": "24",
                      "ConsumedUnit": "Hours", "ChargeCategory": "Usage",
                      "PricingCategory": "Committed" if spec["committed"] else "Standard"})  # fmt: skip
        tags = {"finops:keep-alive": "1"} if spec["keep_alive"] else {}
        if spec["snooze"] is not None:
            tags["finops:snooze-until"] = (NOW + timedelta(days=spec["snooze"])).isoformat()
        facts[arn] = InstanceFacts(arn, "AWS", spec["state"], tags, "asg" if spec["managed"] else None,
                                   spec["local_disks"])  # fmt: skip
    with open_store(db) as store:
        store.replace_slices(GPU_SAMPLES, [rows_to_frame(GPU_SAMPLES, samples, "t")], checksum="g", inputs=["g"])
        frame = pl.DataFrame(costs, schema={k: pl.String for k in costs[0]} | {
            k: pl.Datetime("us", "UTC") for k in ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart",
                                                   "BillingPeriodEnd")})  # fmt: skip
        store.replace_slices(COSTS, [coerce(frame, COSTS, file="b").with_columns(x_Source=pl.lit("b"))],
                             checksum="c", inputs=["c"])  # fmt: skip
    return db, Cloud(facts)


def _protected(spec: dict, policy: ShutdownPolicy) -> bool:
    return bool(spec["stale"] or spec["keep_alive"] or spec["snooze"] == 1 or spec["managed"] or spec["committed"]
                or (spec["local_disks"] and not policy.allow_local_disk_loss) or spec["state"] != "running"
                or spec["idle_minutes"] < 60)  # fmt: skip


@pytest.mark.slow  # about 30 s: .ci/run runs it with the other slow checks
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(instances=fleet, policy=policies)
def test_the_rails_hold(tmp_path: Path, instances: list[dict], policy: ShutdownPolicy) -> None:
    db, cloud = _world(tmp_path, instances)
    with open_store(db, read_only=True) as store:
        plan = make_plan(store, policy, lambda _: cloud, NOW)
    planned = {item.instance for item in plan.to_stop}
    for n, spec in enumerate(instances):
        if _protected(spec, policy):
            assert _arn(n) not in planned, spec
        else:
            assert _arn(n) in planned, spec  # and nothing safe is missed either

    later = NOW  # the first run only marks: nothing may stop without a mark from an earlier run
    first = apply_shutdown(db, policy, lambda _: cloud, later, yes=True, approved=None, notify=None, actor="t")
    assert not [c for c in cloud.calls if c[0] == "stop"]
    assert {d.instance for d in first.decisions if d.action == "marked"} == planned

    after_grace = NOW + timedelta(minutes=policy.grace_minutes)
    with open_store(db) as store:  # telemetry keeps coming: the idle stay idle
        rows = [{"ts": after_grace, "instance_id": _arn(n), "gpu_uuid": f"g{n}", "interval_s": 300.0,
                 "sm_active_pct": 0.0 if spec["idle_minutes"] else 70.0,
                 "process_count": 0 if spec["idle_minutes"] else 1, "x_Day": after_grace.date()}
                for n, spec in enumerate(instances) if not spec["stale"]]  # fmt: skip
        if rows:
            store.replace_slices(GPU_SAMPLES, [rows_to_frame(GPU_SAMPLES, rows, "t2")], checksum="h", inputs=["h"])
    second = apply_shutdown(db, policy, lambda _: cloud, after_grace, yes=True, approved=None, notify=None,
                            actor="t")  # fmt: skip
    stopped = [d for d in second.decisions if d.action == "stopped"]
    event(f"stopped {min(len(stopped), 2)}+")
    assert len(stopped) <= policy.max_instances
    assert sum((d.per_hour or Decimal(0) for d in stopped), Decimal(0)) <= Decimal(str(policy.max_per_hour))
    assert {d.instance for d in stopped} <= planned
    for d in stopped:  # every stop had a mark whose time had come
        mark = parse_when(cloud.facts[d.instance].tags["finops:stop-after"])
        assert mark is not None and mark <= after_grace
    assert [c[1] for c in cloud.calls if c[0] == "stop"] == [d.instance for d in stopped]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(instances=fleet)
def test_disabled_means_no_cloud_call_at_all(tmp_path: Path, instances: list[dict]) -> None:
    db, cloud = _world(tmp_path, instances)
    made: list[str] = []

    def clients(provider: str) -> Cloud:
        made.append(provider)
        return cloud

    for yes in (True, False):
        with pytest.raises(UsageError, match="shutdown is disabled"):
            apply_shutdown(db, ShutdownPolicy(enabled=False), clients, NOW, yes=yes, approved=set(), notify=None)
    assert made == [] and cloud.calls == []


def test_a_host_without_an_instance_id_is_never_stopped(tmp_path: Path) -> None:
    db = tmp_path / "host.duckdb"
    rows = [{"ts": NOW - timedelta(minutes=5 * n), "host": "gpu-box-7", "gpu_uuid": "g", "interval_s": 300.0,
             "sm_active_pct": 0.0, "process_count": 0, "x_Day": NOW.date()} for n in range(30)]  # fmt: skip
    with open_store(db) as store:
        store.replace_slices(GPU_SAMPLES, [rows_to_frame(GPU_SAMPLES, rows, "t")], checksum="g", inputs=["g"])
    cloud = Cloud({})
    with open_store(db, read_only=True) as store:
        (item,) = make_plan(store, ShutdownPolicy(enabled=True), lambda _: cloud, NOW).items
    assert item.action == "skip" and "[gpu.hosts]" in item.reason and cloud.calls == []


@pytest.mark.parametrize(
    ("second_gpu", "stopped"),
    [
        ({"sm_active_pct": 0.0}, True),  # both GPUs idle for two hours: the control, it is stopped
        ({}, False),  # the second GPU's samples carry no activity signal at all: unknown, never idle
        ({"util_gpu_pct": 0.0, "process_count": 1}, False),  # idle but a process holds it (reserved is not included)
        ({"gr_engine_active_pct": 62.0}, False),  # dcgm's default busy signal says it works
    ],
)
def test_an_instance_with_one_gpu_not_known_idle_is_not_stopped(
    tmp_path: Path, second_gpu: dict, stopped: bool
) -> None:
    db, arn = tmp_path / "two.duckdb", _arn(2)
    rows = [{"ts": NOW - timedelta(minutes=5 * n), "instance_id": arn, "gpu_uuid": gpu, "interval_s": 300.0,
             "process_count": 0, "x_Day": NOW.date(), **({"sm_active_pct": 0.0} if gpu == "g0" else second_gpu)}
            for n in range(24) for gpu in ("g0", "g1")]  # fmt: skip
    with open_store(db) as store:
        store.replace_slices(GPU_SAMPLES, [rows_to_frame(GPU_SAMPLES, rows, "t")], checksum="g", inputs=["g"])
    cloud = Cloud({arn: InstanceFacts(arn, "AWS", "running", {})})
    with open_store(db, read_only=True) as store:
        plan = make_plan(store, ShutdownPolicy(enabled=True), lambda _: cloud, NOW)
    assert [i.instance for i in plan.to_stop] == ([arn] if stopped else [])
