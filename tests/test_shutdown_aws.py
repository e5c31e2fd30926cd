"""Auto-shutdown on a simulated AWS account (a moto server process): idle, busy, protected, snoozed, auto-scaled,
local-disk, committed, stale and briefly idle GPU instances. `plan` names exactly the right ones with reasons, two
`apply` runs mark then stop only those (notices to a real local webhook), and the audit log tells the story."""

from __future__ import annotations

import http.server
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import boto3
import polars as pl
import pytest
from aws_server import moto_server, point_boto3_at
from http_server import serve

from finops.coerce import coerce
from finops.config import load_config
from finops.errors import UsageError
from finops.gpu_watch import rows_to_frame
from finops.schema import COSTS, GPU_SAMPLES
from finops.shutdown_apply import apply_shutdown
from finops.shutdown_plan import make_plan
from finops.shutdown_run import cloud_clients, notifier
from finops.store import open_store

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
SCENARIOS = {  # name: (instance type, minutes idle up to now (0: busy), tags, extra)
    "idle-big": ("g5g.16xlarge", 240, {}, {}),
    "idle-small": ("g5g.xlarge", 180, {}, {}),
    "idle-third": ("g5g.xlarge", 120, {"finops:snooze-until": (NOW - timedelta(days=1)).isoformat()}, {}),
    "busy": ("g5g.xlarge", 0, {}, {}),
    "protected": ("g5g.xlarge", 240, {"finops:keep-alive": "true"}, {}),
    "snoozed": ("g5g.xlarge", 240, {"finops:snooze-until": (NOW + timedelta(days=2)).strftime("%Y-%m-%d")}, {}),
    "local-disk": ("p5.48xlarge", 240, {}, {}),
    "committed": ("g5g.xlarge", 240, {}, {"committed": True}),
    "stale": ("g5g.xlarge", 240, {}, {"telemetry_ends": 120}),
    "brief": ("g5g.xlarge", 20, {}, {}),
}
CONFIG = """
[shutdown]
enabled = true
idle_minutes = 60
grace_minutes = 30
max_instances = 2
max_per_hour = 1000.0

[alerts.sinks.ops]
type = "webhook"
url_env = "TEST_SHUTDOWN_HOOK"
"""


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The simulated account: name -> instance ARN, with an auto-scaling group holding one more GPU instance."""
    with moto_server() as url:
        point_boto3_at(monkeypatch, url)
        ec2 = boto3.client("ec2", region_name="us-east-1")
        image = ec2.describe_images()["Images"][0]["ImageId"]
        arns = {}
        for name, (itype, _idle, tags, _extra) in SCENARIOS.items():
            pairs = [{"Key": "Name", "Value": name}, *({"Key": k, "Value": v} for k, v in tags.items())]
            made = ec2.run_instances(ImageId=image, InstanceType=itype, MinCount=1, MaxCount=1,
                                     TagSpecifications=[{"ResourceType": "instance", "Tags": pairs}])  # fmt: skip
            arns[name] = f"arn:aws:ec2:us-east-1:123456789012:instance/{made['Instances'][0]['InstanceId']}"
        template = {"ImageId": image, "InstanceType": "g5g.xlarge"}
        ec2.create_launch_template(LaunchTemplateName="gpu", LaunchTemplateData=template)
        autoscaling = boto3.client("autoscaling", region_name="us-east-1")
        autoscaling.create_auto_scaling_group(AutoScalingGroupName="trainers", MinSize=1, MaxSize=1,
                                              LaunchTemplate={"LaunchTemplateName": "gpu"},
                                              AvailabilityZones=["us-east-1a"])  # fmt: skip
        member = autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"][0]["Instances"][0]["InstanceId"]
        arns["auto-scaled"] = f"arn:aws:ec2:us-east-1:123456789012:instance/{member}"
        yield arns


def _telemetry(arns: dict[str, str], db: Path) -> None:
    """Two GPUs per instance, a sample every 5 minutes for 5 hours; bills at 3, 12 or 98 an hour."""
    samples, costs = [], []
    for name, arn in arns.items():
        itype, idle, _tags, extra = SCENARIOS.get(name, ("g5g.xlarge", 240, {}, {}))
        end = NOW - timedelta(minutes=extra.get("telemetry_ends", 0))
        for step in range(60):
            ts = end - timedelta(minutes=5 * step)
            idle_now = idle > 0 and ts >= NOW - timedelta(minutes=idle)
            for gpu in (0, 1):
                samples.append({"ts": ts, "instance_id": arn, "instance_type": itype, "gpu_uuid": f"{name}-{gpu}",
                                "interval_s": 300.0, "sm_active_pct": 0.0 if idle_now else 85.0,
                                "process_count": 0 if idle_now else 1, "x_Day": ts.date()})  # fmt: skip
        rate = {"g5g.16xlarge": "12.24", "p5.48xlarge": "98.32"}.get(itype, "3.06")
        day = (NOW - timedelta(days=1)).replace(hour=0, minute=0)
        costs.append({"ResourceId": arn, "ChargePeriodStart": day, "ChargePeriodEnd": day + timedelta(days=1),
                      "BillingPeriodStart": day.replace(day=1),
                      "BillingPeriodEnd": day.replace(day=1) + timedelta(days=32),
                      "EffectiveCost": str(24 * float(rate)), "BilledCost": str(24 * float(rate)),
                      "ConsumedQuantity": "24", "ConsumedUnit": "Hours", "ProviderName": "AWS",
                      "ChargeCategory": "Usage", "BillingCurrency": "USD",
                      "PricingCategory": "Committed" if extra.get("committed") else "Standard"})  # fmt: skip
    with open_store(db) as store:
        store.replace_slices(GPU_SAMPLES, [rows_to_frame(GPU_SAMPLES, samples, "test")], checksum="g", inputs=["g"])
        frame = pl.DataFrame(costs, schema={k: pl.String for k in costs[0]} | {
            k: pl.Datetime("us", "UTC") for k in ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart",
                                                   "BillingPeriodEnd")})  # fmt: skip
        frame = coerce(frame, COSTS, file="bill").with_columns(x_Source=pl.lit("bill"))
        store.replace_slices(COSTS, [frame], checksum="c", inputs=["c"])


class Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _states(arns: dict[str, str]) -> dict[str, str]:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    ids = {arn.rsplit("/", 1)[-1]: name for name, arn in arns.items()}
    answer = ec2.describe_instances(InstanceIds=list(ids))
    return {ids[i["InstanceId"]]: i["State"]["Name"] for r in answer["Reservations"] for i in r["Instances"]}


def test_plan_then_mark_then_stop(account: dict[str, str], db: Path, tmp_path: Path, cli,
                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    _telemetry(account, db)
    config_path = tmp_path / "finops.toml"
    config_path.write_text(CONFIG)
    config = load_config(config_path)
    names = {arn: name for name, arn in account.items()}

    with open_store(db, read_only=True) as store:
        plan = make_plan(store, config.shutdown, cloud_clients(config.shutdown), NOW)
    decided = {names[i.instance]: (i.action, i.reason) for i in plan.items}
    assert {n for n, (a, _) in decided.items() if a == "stop"} == {"idle-big", "idle-small", "idle-third"}
    assert "busy" not in decided and plan.busy == 1
    reasons = {n: r for n, (a, r) in decided.items() if a == "skip"}
    assert reasons["protected"] == "protected: tag finops:keep-alive"
    assert reasons["snoozed"].startswith("snoozed until ")
    assert reasons["local-disk"].startswith("local instance storage")
    assert reasons["committed"].startswith("committed capacity")
    assert reasons["stale"].startswith("telemetry stale: newest sample 120 min ago")
    assert reasons["brief"] == "idle 20 min, under the 60-min window"
    assert reasons["auto-scaled"].startswith("managed by group trainers")
    big = next(i for i in plan.items if names[i.instance] == "idle-big")
    assert big.per_hour == Decimal("12.24") and big.price_basis == "bill" and big.gpus == 2
    assert big.idle_since == NOW - timedelta(minutes=240)  # the oldest idle sample of the run

    with serve(Hook) as hook:
        monkeypatch.setenv("TEST_SHUTDOWN_HOOK", hook)
        first = apply_shutdown(db, config.shutdown, cloud_clients(config.shutdown), NOW, yes=True, approved=None,
                               notify=notifier(config), actor="test@ci")  # fmt: skip
    assert {names[d.instance] for d in first.decisions if d.action == "marked"} == {"idle-big", "idle-small",
                                                                                    "idle-third"}  # fmt: skip
    assert set(_states(account).values()) == {"running"}  # marked and told, nothing stopped yet
    (notice,) = Hook.received
    assert {f["subject"] for f in notice["findings"]} == {account["idle-big"], account["idle-small"],
                                                          account["idle-third"]}  # fmt: skip
    tags = boto3.client("ec2", region_name="us-east-1").describe_tags(
        Filters=[{"Name": "key", "Values": ["finops:stop-after"]}])["Tags"]  # fmt: skip
    assert len(tags) == 3

    later = NOW + timedelta(minutes=31)
    _extend_idle(db, account, later)
    second = apply_shutdown(db, config.shutdown, cloud_clients(config.shutdown), later, yes=True, approved=None,
                            notify=None, actor="test@ci")  # fmt: skip
    outcome = {names[d.instance]: (d.action, d.reason) for d in second.decisions}
    stopped = {n for n, (a, _) in outcome.items() if a == "stopped"}
    assert stopped == {"idle-big", "idle-small"}  # the two dearest: the cap is two instances per run
    assert outcome["idle-third"] == ("skipped", "cap: at most 2 instance(s) per run")
    states = _states(account)
    assert {n for n, s in states.items() if s != "running"} == stopped
    assert all(states[n] == "running" for n in ("protected", "snoozed", "local-disk", "committed", "busy"))

    log = json.loads(cli("shutdown", "log", "--db", db, "--format", "json").out)["decisions"]
    story = [(names.get(d["instance"]), d["action"]) for d in reversed(log) if names.get(d["instance"]) == "idle-big"]
    assert story == [("idle-big", "marked"), ("idle-big", "stopped")]
    assert all(d["actor"] == "test@ci" for d in log)
    assert {d["reason"] for d in log if names.get(d["instance"]) == "protected"} == {"protected: tag finops:keep-alive"}


def _extend_idle(db: Path, arns: dict[str, str], until: datetime) -> None:
    """More samples up to `until`: the idle stay idle, the busy stay busy (telemetry keeps arriving)."""
    rows = []
    for name, arn in arns.items():
        itype, idle, _tags, extra = SCENARIOS.get(name, ("g5g.xlarge", 240, {}, {}))
        if extra.get("telemetry_ends"):
            continue
        ts = NOW + timedelta(minutes=5)
        while ts <= until:
            for gpu in (0, 1):
                rows.append({"ts": ts, "instance_id": arn, "instance_type": itype, "gpu_uuid": f"{name}-{gpu}",
                             "interval_s": 300.0, "sm_active_pct": 0.0 if idle else 85.0,
                             "process_count": 0 if idle else 1, "x_Day": ts.date()})  # fmt: skip
            ts += timedelta(minutes=5)
    with open_store(db) as store:
        store.replace_slices(GPU_SAMPLES, [rows_to_frame(GPU_SAMPLES, rows, "later")], checksum="l", inputs=["l"])


def test_apply_refuses_when_disabled_and_changes_nothing(account: dict[str, str], db: Path, tmp_path: Path,
                                                          cli) -> None:  # fmt: skip
    _telemetry(account, db)
    config = tmp_path / "finops.toml"
    config.write_text(CONFIG.replace("enabled = true", "enabled = false"))
    result = cli("--config", config, "shutdown", "apply", "--db", db, "--yes")
    assert result.code == 2 and "shutdown is disabled" in result.err
    assert set(_states(account).values()) == {"running"}
    assert not boto3.client("ec2", region_name="us-east-1").describe_tags(
        Filters=[{"Name": "key", "Values": ["finops:stop-after"]}])["Tags"]  # fmt: skip
    with pytest.raises(UsageError, match="needs a confirmation"):
        apply_shutdown(db, load_config(config).shutdown.__class__(enabled=True), cloud_clients(
            load_config(config).shutdown), NOW, yes=False, approved=None, notify=None)  # fmt: skip
    plan = cli("--config", config, "shutdown", "plan", "--db", db, "--format", "json")
    assert plan.code == 0 and json.loads(plan.out)["kind"] == "finops.shutdown-plan"
