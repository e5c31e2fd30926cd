"""Who used a shared GPU, from telemetry: the weights for `gpu-hours` and `gpu-sm` shared pools.

- `gpu-hours`: busy GPU-hours (activity at or above 5 %, by the signal order and the hour windows of
  finops.gpu_hours) per team, the team read from the GPU's labels with the same policy as the bill's tags.
- `gpu-sm`: per-process SM utilisation summed over samples (`gpu_processes`), the team from the process's
  Kubernetes namespace (the policy's namespace map, then the name itself), else its user name (through aliases).
  On a GPU shared by several processes this splits by who actually ran kernels, not by who held memory.

Telemetry names an instance by id (`i-0abc`), the bill by ARN or path: they match exactly or by the last segment.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime

from finops.allocation_policy import AllocationPolicy
from finops.gpu_hours import IDLE_PCT, read_gpu_hours_by_labels
from finops.store import Store

BUSY_PCT = IDLE_PCT


def gpu_usage_by_team(
    store: Store,
    policy: AllocationPolicy,
    split: str,
    resources: list[str],
    start: datetime,
    end: datetime,
    hosts: Mapping[str, str] | None = None,
) -> dict[str, float]:
    if not resources:
        return {}
    match = _matcher(resources)
    usage: dict[str, float] = defaultdict(float)
    if split == "gpu-hours":
        for instance, labels, _, busy in read_gpu_hours_by_labels(store, start, end, idle_pct=BUSY_PCT):
            if match(instance, hosts) and busy:
                usage[policy.team_of(labels, ()) or "(unlabelled)"] += busy
        return dict(usage)
    rows = store.fetch(
        """
        WITH gpus AS (SELECT gpu_uuid, any_value(instance_id) AS instance_id FROM gpu_samples
                      WHERE ts >= ? AND ts < ? GROUP BY gpu_uuid)
        SELECT coalesce(g.instance_id, p.host), p.namespace, p.user_name, sum(coalesce(p.sm_util_pct, 0))
        FROM gpu_processes p LEFT JOIN gpus g USING (gpu_uuid)
        WHERE p.ts >= ? AND p.ts < ?
        GROUP BY ALL
        """,
        [start, end, start, end],
    )
    for instance, namespace, user, sm in rows:
        if match(instance, hosts) and sm:
            usage[_process_team(policy, namespace, user)] += float(sm)
    return dict(usage)


def _process_team(policy: AllocationPolicy, namespace: str | None, user: str | None) -> str:
    if namespace:
        return policy.namespaces.get(namespace) or policy.aliases.get(namespace) or namespace
    if user:
        return policy.aliases.get(user, user)
    return "(unlabelled)"


def _matcher(resources: list[str]) -> Callable[[str | None, Mapping[str, str] | None], bool]:
    exact = set(resources)
    tails = {r.rsplit("/", 1)[-1] for r in resources}

    def match(instance: str | None, hosts: Mapping[str, str] | None) -> bool:
        if not instance:
            return False
        instance = (hosts or {}).get(instance, instance)
        return instance in exact or instance.rsplit("/", 1)[-1] in tails

    return match
