"""`finops shutdown apply`: mark, notify, then act, within the caps, and write down every decision.

Nothing happens unless `[shutdown] enabled = true` and the run is confirmed (`--yes`, or a plan file from
`finops shutdown plan`, which is planned again now and only its instances that still qualify are acted on). The
first run tags a qualifying instance with the time it may be stopped and sends a notice through the alert sinks;
a later run, after `grace_minutes`, stops it if it is still idle and still marked. An instance that works again
has its mark withdrawn. Stop, never terminate.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from finops.connectors.compute_common import ComputeClient, label_key
from finops.errors import FinopsError, UsageError
from finops.shutdown_plan import Plan, PlanItem, make_plan, stamp
from finops.shutdown_policy import ShutdownPolicy
from finops.store import open_store

PLAN_MAX_AGE = timedelta(hours=24)
Notify = Callable[[list[dict[str, Any]]], list[str]]  # notices -> failures (empty: delivered)


@dataclass(frozen=True)
class Decision:
    instance: str
    provider: str | None
    action: str  # marked | waiting | stopped | unmarked | skipped | failed
    reason: str
    per_hour: Decimal | None = None
    evidence: dict[str, Any] | None = None


@dataclass(frozen=True)
class ApplyResult:
    run_id: str
    decisions: tuple[Decision, ...]

    @property
    def failed(self) -> bool:
        return any(d.action == "failed" for d in self.decisions)


def read_plan_file(path: Path, now: datetime) -> set[str]:
    """The instances a saved plan approved for stopping; refused when it is not a plan or is too old."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        planned = datetime.fromisoformat(document["now"])
        approved = {i["instance"] for i in document["items"] if i["action"] == "stop"}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{path}: not a plan from `finops shutdown plan --format json`: {e}") from e
    if document.get("kind") != "finops.shutdown-plan":
        raise UsageError(f"{path}: not a shutdown plan (kind {document.get('kind')!r})")
    if now - planned > PLAN_MAX_AGE:
        raise UsageError(f"{path}: the plan is from {planned:%Y-%m-%d %H:%M} UTC, older than a day",
                         hint="make a new one: finops shutdown plan --format json -o plan.json")  # fmt: skip
    return approved


def apply_shutdown(db: Path, policy: ShutdownPolicy, clients: Callable[[str], ComputeClient], now: datetime, *,
                   yes: bool, approved: set[str] | None, notify: Notify | None,
                   hosts: dict[str, str] | None = None, actor: str | None = None) -> ApplyResult:  # fmt: skip
    # The rails come first: with shutdown disabled or unconfirmed, no client is even created.
    if not policy.enabled:
        where = "finops.toml" if policy.origin == "defaults" else policy.origin
        raise UsageError("shutdown is disabled: nothing was changed",
                         hint=f"set enabled = true under [shutdown] in {where} to allow stops")  # fmt: skip
    if not yes and approved is None:
        raise UsageError("apply needs a confirmation", hint="--yes, or --plan FILE from finops shutdown plan")
    with open_store(db, read_only=True) as store:
        plan = make_plan(store, policy, clients, now, hosts)
    decisions = _act(plan, policy, clients, now, approved, notify)
    run_id = uuid.uuid4().hex[:12]
    who = actor or f"{getpass.getuser()}@{socket.gethostname()}"
    with open_store(db) as store:
        store.record_shutdown([
            {"at": now, "run_id": run_id, "actor": who, "instance": d.instance, "provider": d.provider,
             "action": d.action, "reason": d.reason, "per_hour": d.per_hour,
             "evidence": json.dumps(d.evidence or {}, default=str)}
            for d in decisions
        ])  # fmt: skip
    return ApplyResult(run_id, tuple(decisions))


def _act(plan: Plan, policy: ShutdownPolicy, clients: Callable[[str], ComputeClient], now: datetime,
         approved: set[str] | None, notify: Notify | None) -> list[Decision]:  # fmt: skip
    decisions: list[Decision] = []
    stopped, per_hour_stopped, cap = 0, Decimal(0), Decimal(str(policy.max_per_hour))
    marked: list[PlanItem] = []
    for item in plan.items:

        def record(action: str, reason: str, item: PlanItem = item) -> None:
            decisions.append(Decision(item.instance, item.provider, action, reason, item.per_hour, item.evidence()))

        if item.action == "skip":
            record("skipped", item.reason)
            continue
        provider = item.provider or ""
        client, key = clients(provider), label_key(policy.mark_tag, provider)
        try:
            if item.action == "unmark":
                client.untag(item.instance, [key])
                record("unmarked", item.reason)
            elif approved is not None and item.instance not in approved:
                record("skipped", "not in the confirmed plan")
            elif item.marked_until is None:
                until = now + timedelta(minutes=policy.grace_minutes)
                client.tag(item.instance, {key: stamp(until, provider)})
                marked.append(item)
                record("marked", f"{item.reason}; may be stopped after {until:%Y-%m-%d %H:%M} UTC")
            elif item.marked_until > now:
                record("waiting", f"marked; may be stopped after {item.marked_until:%Y-%m-%d %H:%M} UTC")
            elif stopped + 1 > policy.max_instances:
                record("skipped", f"cap: at most {policy.max_instances} instance(s) per run")
            elif per_hour_stopped + (item.per_hour or 0) > cap:
                record("skipped", f"cap: at most {cap:,.2f} per hour stopped per run")
            else:
                client.stop(item.instance, discard_local_disks=policy.allow_local_disk_loss)
                stopped, per_hour_stopped = stopped + 1, per_hour_stopped + (item.per_hour or Decimal(0))
                record("stopped", f"{item.reason}; marked until {item.marked_until:%Y-%m-%d %H:%M} UTC")
        except FinopsError as e:
            record("failed", e.message)
    for instance in plan.stopped_but_billed:
        decisions.append(Decision(instance, "Microsoft Azure", "skipped", "stopped but not deallocated: still "
                                  "billed for its hardware; deallocate it (never power off)"))  # fmt: skip
    if marked:
        decisions = _notify(marked, decisions, policy, clients, notify)
    return decisions


def _notify(marked: list[PlanItem], decisions: list[Decision], policy: ShutdownPolicy,
            clients: Callable[[str], ComputeClient], notify: Notify | None) -> list[Decision]:  # fmt: skip
    """Tell people before anything stops. Without a delivered notice there is no mark: it is withdrawn."""
    reasons = {d.instance: d.reason for d in decisions if d.action == "marked"}
    notices = [{"rule_id": "SHUTDOWN", "severity": "high", "subject": item.instance,
                "message": reasons[item.instance], "amount": item.per_hour, "currency": "USD",
                "evidence": item.evidence()} for item in marked]  # fmt: skip
    failures = notify(notices) if notify else []
    if not failures:
        return decisions
    withdrawn = {item.instance for item in marked}
    for item in marked:
        provider = item.provider or ""
        # If even this fails the mark stays; the instance still cannot stop before the grace has passed.
        with contextlib.suppress(FinopsError):
            clients(provider).untag(item.instance, [label_key(policy.mark_tag, provider)])
    reason = "notice not delivered (" + "; ".join(failures) + "): mark withdrawn"
    return [Decision(d.instance, d.provider, "failed", reason, d.per_hour, d.evidence)
            if d.instance in withdrawn and d.action == "marked" else d for d in decisions]  # fmt: skip
