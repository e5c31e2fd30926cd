"""The measures of unit and GPU budgets: cost per 1,000 requests, a team's idle GPU share, its GPU-hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

from finops.allocation_policy import AllocationPolicy
from finops.budget_config import Budget
from finops.gpu_cost import read_gpu_idle
from finops.gpu_hours import read_gpu_hours_by_labels
from finops.inference import read_inference
from finops.report_sections import gpu_types
from finops.store import Store

# The bill's team for the idle section's label only; the budget matches teams through the policy below.
_RAW_TEAM = "coalesce(nullif(\"Tags\"['team'], ''), '(untagged)')"


def _ts(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def unit_cost(store: Store, budget: Budget, start: date, end: date) -> tuple[Decimal | None, Decimal | None]:
    """Cost per 1,000 successful requests so far; the period's forecast is the same rate."""
    column = "EffectiveCost" if budget.cost == "effective" else "BilledCost"
    for endpoint in read_inference(store, _ts(start), _ts(end), column):
        if endpoint.endpoint == budget.endpoint:
            return endpoint.per_1k_requests, endpoint.per_1k_requests
    return None, None


def idle_share(store: Store, budget: Budget, policy: AllocationPolicy, start: date, end: date,
               hosts: dict[str, str]) -> Decimal | None:  # fmt: skip
    """Idle GPU-hours over observed GPU-hours, on the instances whose bill puts them in the team."""
    teams = set(budget.scope["team"])
    instances = _instance_teams(store, policy, start, end)
    idle = total = 0.0
    for instance in read_gpu_idle(store, _ts(start), _ts(end), _RAW_TEAM, "EffectiveCost", hosts):
        team = instances.get(instance.instance_id) or instances.get(instance.instance_id.rsplit("/", 1)[-1])
        if team in teams:
            idle += instance.idle_gpu_hours
            total += instance.gpu_hours
    return (Decimal(repr(idle)) / Decimal(repr(total))).quantize(Decimal("0.0001")) if total else None


def gpu_hours(store: Store, budget: Budget, policy: AllocationPolicy, start: date, end: date) -> Decimal | None:
    """GPU-hours of the team: observed by telemetry (the GPUs' labels), or billed (instance-hours x GPUs). None
    when nothing of the team was observed (or billed) in the period: no data, not zero use."""
    teams = set(budget.scope["team"])
    if budget.source == "telemetry":
        observed = [h for _, labels, h, _ in read_gpu_hours_by_labels(store, _ts(start), _ts(end))
                    if policy.team_of(labels, ()) in teams]  # fmt: skip
        return Decimal(repr(round(sum(observed), 3))) if observed else None
    counts = {t.instance_type.lower(): t.gpu_count for t in gpu_types()}
    keys = list(policy.tag_keys())
    rows = store.fetch(
        """
        SELECT lower("x_InstanceType"), "SubAccountId", "SubAccountName", "BillingAccountId",
               [nullif("Tags"[k], '') FOR k IN ?::VARCHAR[]], sum("ConsumedQuantity")
        FROM costs WHERE "ChargePeriodStart" >= ? AND "ChargePeriodStart" < ? AND "ConsumedUnit" ILIKE 'hour%'
          AND lower("x_InstanceType") IN (SELECT unnest(?))
        GROUP BY ALL
        """,
        [keys, _ts(start), _ts(end), list(counts)],
    )
    total: Decimal | None = None
    for itype, sub_id, sub_name, billing, values, quantity in rows:
        tags = {k: v for k, v in zip(keys, values, strict=True) if v is not None}
        if policy.team_of(tags, (sub_id, sub_name, billing)) in teams:
            total = (total or Decimal(0)) + (quantity or Decimal(0)) * counts[itype]
    return total


def _instance_teams(store: Store, policy: AllocationPolicy, start: date, end: date) -> dict[str, str | None]:
    """Each resource's team by the policy, keyed by its id and its id's last path segment."""
    keys = list(policy.tag_keys())
    rows = store.fetch(
        """
        SELECT "ResourceId", any_value("SubAccountId"), any_value("SubAccountName"), any_value("BillingAccountId"),
               any_value([nullif("Tags"[k], '') FOR k IN ?::VARCHAR[]])
        FROM costs WHERE "ChargePeriodStart" >= ? AND "ChargePeriodStart" < ? AND "ResourceId" IS NOT NULL
        GROUP BY 1
        """,
        [keys, _ts(start), _ts(end)],
    )
    result: dict[str, str | None] = {}
    for resource, sub_id, sub_name, billing, values in rows:
        tags = {k: v for k, v in zip(keys, values or [], strict=False) if v is not None}
        team = policy.team_of(tags, (sub_id, sub_name, billing))
        result[resource] = team
        result.setdefault(resource.rsplit("/", 1)[-1], team)
    return result
