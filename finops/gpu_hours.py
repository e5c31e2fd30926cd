"""GPU time, counted one way for every reader: the report, rule GPU001, budgets, allocation and the shutdown plan.

A sample holds until the next sample of the same device (GPU or MIG instance), whatever source either came from:
it covers [ts, next ts) when the gap is at most 1.5 times its own sampling interval (jitter), and only its own
interval when the gap is longer: the rest of a longer gap is missing data, counted in no state at all. A sample
with no interval and no next sample within the hour covers nothing. No sample covers more than an hour, so it is
split over at most two UTC hours. This holds for any sampling interval from 1 s to 1 h, for irregular intervals,
and for two sources sampling the same GPU (their samples interleave; nothing is counted twice).

Each sample is classified on its own (a busy half hour and an idle half hour are half an idle hour, not one
"50 %" hour), by the best activity signal it carries:

1. `sm_active`: SM activity (NVML GPM on Hopper and newer, `DCGM_FI_PROF_SM_ACTIVE`): how much of the GPU worked;
2. `gr_engine_active`: `DCGM_FI_PROF_GR_ENGINE_ACTIVE`, on in dcgm-exporter's default counters, per MIG instance
   too;
3. `process_sm`: the processes' SM shares summed (NVML per-process utilisation, the sampler's `gpu_processes`);
4. `util_gpu`: the share of time any kernel ran (nvidia-smi, `DCGM_FI_DEV_GPU_UTIL`), the weaker signal: a
   one-thread kernel reads 100 %. It can only overstate work, so an idle verdict from it still holds;
5. `no_process`: no activity metric at all, but no process on the device and under 256 MiB of its memory in use
   (nvidia-smi's MIG listing, which has no utilisation): nothing can be running. It only ever says idle, and needs
   both facts, since nvidia-smi in a container may not see other namespaces' processes.

A sample with none of them is `unknown`: never idle, so nothing is stopped or charged as idle on a guess. Idle
samples are `idle_reserved` when a process holds the GPU (the process count; without one, over 512 MiB of memory
in use), else `idle_empty`.

MIG: each instance is its own device, counted as its share of the GPU (its profile's compute slices of 7, or of 4
on an A30), and a GPU's whole-GPU rows are left out of any hour in which its instances report.

The SQL keeps to what sqlglot carries to Spark (GPU001's heavy tier reads `gpu_hours` there too): `lead` is the one
window function, time differences are `date_diff` in microseconds, and no `least`/`greatest` meets a NULL (both
skip it on DuckDB and Spark).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from finops.store import Store

IDLE_PCT = 5.0
HOUR = timedelta(hours=1)  # a sample held from the hour before the span reaches into it
UNDERUTILIZED_PCT = 40.0
STATES = ("idle_empty", "idle_reserved", "underutilized", "active", "unknown")
IDLE_STATES = ("idle_empty", "idle_reserved")
SIGNALS = ("sm_active", "gr_engine_active", "process_sm", "util_gpu", "no_process")  # best first: rank 1..5

# Every CTE is prefixed gh_ so that it can sit beside a rule's own CTEs. $period_start/$period_end bound the hours
# counted; samples an hour either side are read so that the edges know their neighbours.
SEGMENT_CTES = """
gh_scan AS (
    SELECT * FROM gpu_samples
    WHERE ts >= $period_start - INTERVAL 1 HOUR AND ts < $period_end + INTERVAL 1 HOUR
),
gh_mig_hours AS (
    SELECT DISTINCT gpu_uuid, date_trunc('hour', ts) AS hour FROM gh_scan WHERE mig_instance_id IS NOT NULL
),
gh_processes AS (
    SELECT gpu_uuid, ts, sum(sm_util_pct) AS sm_pct, count(*) AS n FROM gpu_processes
    WHERE ts >= $period_start - INTERVAL 1 HOUR AND ts < $period_end + INTERVAL 1 HOUR
    GROUP BY gpu_uuid, ts
),
gh_samples AS (
    SELECT s.ts, coalesce(s.instance_id, s.host) AS instance, s.host, s.instance_id, s.instance_type,
           s.gpu_uuid, s.mig_instance_id, s.mig_profile, s.gpu_model, s.interval_s, s.power_w, s.energy_j,
           s.tensor_active_pct, s.dram_active_pct, s.labels,
           CASE WHEN s.sm_active_pct IS NOT NULL THEN 1 WHEN s.gr_engine_active_pct IS NOT NULL THEN 2
                WHEN p.sm_pct IS NOT NULL THEN 3 WHEN s.util_gpu_pct IS NOT NULL THEN 4
                WHEN s.process_count = 0 AND s.mem_used_bytes < 268435456 THEN 5 END AS signal_rank,
           coalesce(s.sm_active_pct, s.gr_engine_active_pct,
                    CASE WHEN p.sm_pct > 100 THEN 100.0 ELSE p.sm_pct END, s.util_gpu_pct,
                    CASE WHEN s.process_count = 0 AND s.mem_used_bytes < 268435456 THEN 0.0 END) AS activity,
           CASE WHEN s.process_count IS NOT NULL THEN s.process_count > 0
                WHEN p.n IS NOT NULL THEN p.n > 0
                ELSE coalesce(s.mem_used_bytes > 536870912, false) END AS holds_memory,
           CASE WHEN s.mig_instance_id IS NULL THEN 1.0
                ELSE coalesce(CAST(nullif(regexp_extract(s.mig_profile, '([0-9]+)g[.]', 1), '') AS DOUBLE), 1.0)
                     / CASE WHEN upper(s.gpu_model) LIKE '%A30%' THEN 4.0 ELSE 7.0 END END AS share,
           lead(s.ts) OVER (PARTITION BY s.gpu_uuid, s.mig_instance_id ORDER BY s.ts) AS next_ts,
           lead(s.energy_j) OVER (PARTITION BY s.gpu_uuid, s.mig_instance_id ORDER BY s.ts) AS next_energy_j
    FROM gh_scan s
    LEFT JOIN gh_processes p ON p.gpu_uuid = s.gpu_uuid AND p.ts = s.ts AND s.mig_instance_id IS NULL
    LEFT JOIN gh_mig_hours m
      ON m.gpu_uuid = s.gpu_uuid AND m.hour = date_trunc('hour', s.ts) AND s.mig_instance_id IS NULL
    WHERE m.gpu_uuid IS NULL
),
gh_gaps AS (
    SELECT *, date_diff('microsecond', ts, next_ts) / 1e6 AS gap FROM gh_samples
),
gh_segments AS (
    SELECT *,
           CASE WHEN activity IS NULL THEN 'unknown'
                WHEN activity < $idle_pct THEN CASE WHEN holds_memory THEN 'idle_reserved' ELSE 'idle_empty' END
                WHEN activity < $underutilized_pct THEN 'underutilized' ELSE 'active' END AS state,
           least(CASE WHEN gap <= coalesce(interval_s * 1.5, 3600.0) THEN gap ELSE coalesce(interval_s, 0.0) END,
                 3600.0) AS seconds,
           gap <= coalesce(interval_s * 1.5, 3600.0) AND gap <= 3600.0 AS held_to_next,
           3600.0 - date_diff('microsecond', date_trunc('hour', ts), ts) / 1e6 AS left_in_hour
    FROM gh_gaps
)"""

_HOUR_CTES = """,
gh_energy AS (
    -- the energy counter where it runs on to the next sample (a reset or a gap falls back to power x time)
    SELECT *, CASE WHEN held_to_next AND next_energy_j >= energy_j THEN next_energy_j - energy_j
                   ELSE power_w * seconds END AS segment_energy_j
    FROM gh_segments
),
gh_parts AS (
    SELECT *, date_trunc('hour', ts) AS hour, least(seconds, left_in_hour) AS part_s, 1 AS first_part
    FROM gh_energy
    UNION ALL
    SELECT *, date_trunc('hour', ts) + INTERVAL 1 HOUR AS hour, seconds - left_in_hour AS part_s, 0 AS first_part
    FROM gh_energy WHERE seconds > left_in_hour
),
gpu_hours AS (
    SELECT instance, min(host) AS host, min(instance_id) AS instance_id, max(instance_type) AS instance_type,
           gpu_uuid, mig_instance_id, max(mig_profile) AS mig_profile, max(gpu_model) AS gpu_model, hour,
           max(share) AS share, sum(first_part) AS samples, sum(part_s) AS seconds,
           sum(part_s) * max(share) / 3600.0 AS gpu_hours,
           coalesce(sum(part_s) FILTER (WHERE state IN ('idle_empty', 'idle_reserved')), 0) * max(share) / 3600.0
               AS idle_gpu_hours,
           coalesce(sum(part_s) FILTER (WHERE state = 'idle_empty'), 0) AS idle_empty_s,
           coalesce(sum(part_s) FILTER (WHERE state = 'idle_reserved'), 0) AS idle_reserved_s,
           coalesce(sum(part_s) FILTER (WHERE state = 'underutilized'), 0) AS underutilized_s,
           coalesce(sum(part_s) FILTER (WHERE state = 'active'), 0) AS active_s,
           coalesce(sum(part_s) FILTER (WHERE state = 'unknown'), 0) AS unknown_s,
           sum(first_part) FILTER (WHERE state = 'idle_empty') AS idle_empty_n,
           sum(first_part) FILTER (WHERE state = 'idle_reserved') AS idle_reserved_n,
           sum(first_part) FILTER (WHERE state = 'underutilized') AS underutilized_n,
           sum(first_part) FILTER (WHERE state = 'active') AS active_n,
           sum(first_part) FILTER (WHERE state = 'unknown') AS unknown_n,
           min(signal_rank) AS signal_rank,
           -- time-weighted means; an hour of zero-length samples (one scrape) takes their plain mean
           coalesce(sum(part_s * activity) / nullif(sum(part_s) FILTER (WHERE activity IS NOT NULL), 0),
                    avg(activity) FILTER (WHERE first_part = 1)) AS activity_pct,
           coalesce(sum(part_s * tensor_active_pct)
                        / nullif(sum(part_s) FILTER (WHERE tensor_active_pct IS NOT NULL), 0),
                    avg(tensor_active_pct) FILTER (WHERE first_part = 1)) AS tensor_active_pct,
           coalesce(sum(part_s * dram_active_pct) / nullif(sum(part_s) FILTER (WHERE dram_active_pct IS NOT NULL), 0),
                    avg(dram_active_pct) FILTER (WHERE first_part = 1)) AS dram_active_pct,
           sum(CASE WHEN seconds > 0 THEN segment_energy_j * part_s / seconds END) AS energy_j,
           sum(CASE WHEN seconds > 0 AND state IN ('idle_empty', 'idle_reserved')
                    THEN segment_energy_j * part_s / seconds END) AS idle_energy_j
    FROM gh_parts
    WHERE hour >= $period_start AND hour < $period_end
    GROUP BY instance, gpu_uuid, mig_instance_id, hour
)"""

GPU_HOURS_CTES = SEGMENT_CTES + _HOUR_CTES
DEFAULTS = {"idle_pct": IDLE_PCT, "underutilized_pct": UNDERUTILIZED_PCT}
_READS_GPU_HOURS = re.compile(r"\bgpu_hours\b", re.IGNORECASE)
_LEADING_WITH = re.compile(r"^\s*(?:--[^\n]*\n\s*)*with\s", re.IGNORECASE)


def with_gpu_hours(sql: str) -> str:
    """A query that reads the relation `gpu_hours` (a rule's heavy tier, say), with the relation's definition put
    in front as CTEs. A query that does not read it is returned as it is."""
    if not _READS_GPU_HOURS.search(sql):
        return sql
    match = _LEADING_WITH.match(sql)
    if match:
        return f"WITH {GPU_HOURS_CTES},\n{sql[match.end() :]}"
    return f"WITH {GPU_HOURS_CTES}\n{sql}"


@dataclass(frozen=True)
class DeviceHour:
    """One GPU or MIG instance over one UTC hour."""

    instance: str | None  # the instance id, else the host
    host: str | None
    instance_id: str | None
    instance_type: str | None
    gpu_uuid: str
    mig_instance_id: str | None
    mig_profile: str | None
    gpu_model: str | None
    hour: datetime
    share: float  # of the physical GPU: 1, or a MIG instance's slices
    samples: int
    seconds: float  # covered time of the device
    seconds_by_state: dict[str, float] = field(default_factory=dict)
    samples_by_state: dict[str, int] = field(default_factory=dict)
    signal: str | None = None  # the best signal any sample of the hour had
    signals: tuple[str, ...] = ()  # every signal its samples had, best first
    activity_pct: float | None = None
    tensor_active_pct: float | None = None
    dram_active_pct: float | None = None
    energy_j: float | None = None
    idle_energy_j: float | None = None

    @property
    def gpu_hours(self) -> float:
        return self.seconds * self.share / 3600

    @property
    def idle_gpu_hours(self) -> float:
        return sum(self.seconds_by_state.get(s, 0.0) for s in IDLE_STATES) * self.share / 3600


# The period's hours of each device folded into one row (the readers that total a period need no more): the sums
# add up, the means are weighted by covered time (a device of zero-length samples takes their plain mean).
_PER_DEVICE = """
    SELECT instance, min(host) AS host, min(instance_id) AS instance_id, max(instance_type) AS instance_type,
           gpu_uuid, mig_instance_id, max(mig_profile) AS mig_profile, max(gpu_model) AS gpu_model,
           min(hour) AS hour, max(share) AS share, sum(samples) AS samples, sum(seconds) AS seconds,
           sum(idle_empty_s) AS idle_empty_s, sum(idle_reserved_s) AS idle_reserved_s,
           sum(underutilized_s) AS underutilized_s, sum(active_s) AS active_s, sum(unknown_s) AS unknown_s,
           sum(idle_empty_n) AS idle_empty_n, sum(idle_reserved_n) AS idle_reserved_n,
           sum(underutilized_n) AS underutilized_n, sum(active_n) AS active_n, sum(unknown_n) AS unknown_n,
           min(signal_rank) AS signal_rank, list(DISTINCT signal_rank) AS signal_ranks,
           coalesce(sum(activity_pct * seconds) / nullif(sum(seconds) FILTER (WHERE activity_pct IS NOT NULL), 0),
                    avg(activity_pct)) AS activity_pct,
           coalesce(sum(tensor_active_pct * seconds)
                        / nullif(sum(seconds) FILTER (WHERE tensor_active_pct IS NOT NULL), 0),
                    avg(tensor_active_pct)) AS tensor_active_pct,
           coalesce(sum(dram_active_pct * seconds) / nullif(sum(seconds) FILTER (WHERE dram_active_pct IS NOT NULL), 0),
                    avg(dram_active_pct)) AS dram_active_pct,
           sum(energy_j) AS energy_j, sum(idle_energy_j) AS idle_energy_j
    FROM gpu_hours GROUP BY instance, gpu_uuid, mig_instance_id
"""


def read_gpu_hours(
    store: Store,
    start: datetime,
    end: datetime,
    *,
    per_device: bool = False,
    idle_pct: float = IDLE_PCT,
    underutilized_pct: float = UNDERUTILIZED_PCT,
) -> list[DeviceHour]:
    """Every device's hours in [start, end) (UTC hours), by state; with `per_device`, one row per device for the
    whole span (its `hour` the first), which is all a period's totals need and far fewer rows."""
    if not store.fetch("SELECT 1 FROM gpu_samples WHERE ts >= ? AND ts < ? LIMIT 1", [start - HOUR, end]):
        return []  # no telemetry in the span: skip planning the whole relation (most of a bill-only report's cost)
    query = _PER_DEVICE if per_device else "SELECT *, [signal_rank] AS signal_ranks FROM gpu_hours"
    names, rows = store.fetch_named(
        with_gpu_hours(f"SELECT * FROM ({query}) ORDER BY instance, gpu_uuid, mig_instance_id, hour"),
        {"period_start": start, "period_end": end, "idle_pct": idle_pct, "underutilized_pct": underutilized_pct},
    )
    return [_device_hour(dict(zip(names, row, strict=True))) for row in rows]


def _device_hour(r: dict[str, Any]) -> DeviceHour:
    def number(value: Any) -> float | None:
        return None if value is None else float(value)

    rank = r["signal_rank"]
    return DeviceHour(
        r["instance"], r["host"], r["instance_id"], r["instance_type"], r["gpu_uuid"], r["mig_instance_id"],
        r["mig_profile"], r["gpu_model"], r["hour"], float(r["share"]), int(r["samples"] or 0),
        float(r["seconds"] or 0), {s: float(r[f"{s}_s"]) for s in STATES}, {s: int(r[f"{s}_n"] or 0) for s in STATES},
        None if rank is None else SIGNALS[int(rank) - 1],
        tuple(SIGNALS[int(k) - 1] for k in sorted(k for k in r["signal_ranks"] if k is not None)),
        number(r["activity_pct"]), number(r["tensor_active_pct"]),
        number(r["dram_active_pct"]), number(r["energy_j"]), number(r["idle_energy_j"]),
    )  # fmt: skip


@dataclass(frozen=True)
class Segment:
    """One sample and the time it holds for: [start, start + seconds)."""

    instance: str | None
    gpu_uuid: str
    mig_instance_id: str | None
    start: datetime
    seconds: float
    state: str
    activity_pct: float | None
    signal: str | None


def read_segments(
    store: Store, start: datetime, end: datetime, *, idle_pct: float = IDLE_PCT,
    underutilized_pct: float = UNDERUTILIZED_PCT,
) -> list[Segment]:  # fmt: skip
    """The samples of [start, end) with the time each covers and its state, oldest first: for windows that are not
    whole hours (the shutdown plan's idle runs, a test's labelled phases)."""
    rows = store.fetch(
        f"""WITH {SEGMENT_CTES}
            SELECT instance, gpu_uuid, mig_instance_id, ts, seconds, state, activity, signal_rank FROM gh_segments
            WHERE ts >= $period_start AND ts < $period_end ORDER BY ts, gpu_uuid, mig_instance_id""",
        {"period_start": start, "period_end": end, "idle_pct": idle_pct, "underutilized_pct": underutilized_pct},
    )
    return [
        Segment(
            instance,
            uuid,
            mig,
            ts,
            float(seconds),
            state,
            None if activity is None else float(activity),
            None if rank is None else SIGNALS[int(rank) - 1],
        )
        for instance, uuid, mig, ts, seconds, state, activity, rank in rows
    ]


def observed_by_type(hours: list[DeviceHour]) -> dict[str, tuple[float, float | None]]:
    """Telemetry's GPU-hours and time-weighted mean activity per instance type (lower case)."""
    totals: dict[str, list[float]] = {}
    for hour in hours:
        if hour.instance_type:
            entry = totals.setdefault(hour.instance_type.lower(), [0.0, 0.0, 0.0])
            entry[0] += hour.gpu_hours
            if hour.activity_pct is not None:
                entry[1] += hour.activity_pct * hour.seconds
                entry[2] += hour.seconds
    return {
        itype: (hours_, weighted / seconds if seconds else None)
        for itype, (hours_, weighted, seconds) in totals.items()
    }


def read_gpu_hours_by_labels(
    store: Store, start: datetime, end: datetime, *, idle_pct: float = IDLE_PCT
) -> list[tuple[str | None, dict[str, str], float, float]]:
    """(instance, the GPU's labels, GPU-hours, busy GPU-hours) over [start, end): the weights of allocation by GPU
    use and the telemetry side of team GPU budgets. Labels (a pod, a namespace) change while a GPU runs, so each
    sample's time goes to the labels it carried."""
    rows = store.fetch(
        f"""WITH {GPU_HOURS_CTES}
            SELECT instance, labels, sum(part_s * share) / 3600.0,
                   coalesce(sum(part_s * share) FILTER (WHERE state IN ('underutilized', 'active')), 0) / 3600.0
            FROM gh_parts WHERE hour >= $period_start AND hour < $period_end
            GROUP BY instance, labels""",
        {"period_start": start, "period_end": end, "idle_pct": idle_pct, "underutilized_pct": UNDERUTILIZED_PCT},
    )
    return [(instance, dict(labels or {}), float(total), float(busy)) for instance, labels, total, busy in rows]
