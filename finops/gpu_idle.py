"""Per GPU and time window: is it working, underused, or idle, and idle how?

- `idle_empty`: no process on the GPU and no activity: nothing uses it at all.
- `idle_reserved`: a process holds memory (a CUDA context, a forgotten notebook) but runs nothing.
- `underutilized`: activity under `underutilized_pct` (default 40: below it a GPU is mostly paying for itself
  being there, the "infrastructure tax" line).
- `active`: the rest.
- `unknown`: samples that carry no activity metric at all.

Activity is SM activity (GPM on Hopper, DCGM_FI_PROF_SM_ACTIVE) wherever the GPU reports it, and `util_gpu`
only where it does not: `util_gpu` reads 100 % for a one-thread kernel. A window without samples has no state:
missing data is never idleness. Waste is measured in GPU-hours and energy here; money comes from the bill.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from finops.store import Store

STATES = ("idle_empty", "idle_reserved", "underutilized", "active", "unknown")


@dataclass(frozen=True)
class GpuWindow:
    gpu_uuid: str
    host: str | None
    instance_id: str | None
    instance_type: str | None
    start: datetime
    end: datetime
    samples: int
    gpu_hours: float  # observed: samples x their interval
    activity_pct: float | None
    activity_source: str  # "sm_active" or "util_gpu"
    holds_memory: bool
    energy_kwh: float | None
    state: str


def windows(start: datetime, end: datetime, window_s: int) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into equal windows (the last one shorter)."""
    cuts, step = [], timedelta(seconds=window_s)
    cursor = start
    while cursor < end:
        cuts.append((cursor, min(cursor + step, end)))
        cursor += step
    return cuts


_SUMMARY = """
    SELECT gpu_uuid, any_value(host), any_value(instance_id), any_value(instance_type), span_start, span_end,
           count(*), sum(coalesce(interval_s, 0)) / 3600.0,
           CASE WHEN count(sm_active_pct) > 0 THEN avg(sm_active_pct) ELSE avg(util_gpu_pct) END,
           CASE WHEN count(sm_active_pct) > 0 THEN 'sm_active' ELSE 'util_gpu' END,
           -- a process on the GPU in most samples holds it, whatever it does
           avg(CASE WHEN process_count > 0 THEN 1.0 ELSE 0.0 END) >= 0.5,
           (max(energy_j) - min(energy_j)) / 3.6e6
    FROM samples GROUP BY gpu_uuid, span_start, span_end
    ORDER BY gpu_uuid, span_start
"""


def classify(
    store: Store,
    spans: list[tuple[datetime, datetime]],
    *,
    idle_pct: float = 5.0,
    underutilized_pct: float = 40.0,
) -> list[GpuWindow]:
    """Classify every GPU with samples in each of the given spans. Thresholds are percentages of activity."""
    if not spans:
        return []
    values = ", ".join("(?, ?)" for _ in spans)
    sql = f"""
        WITH spans(span_start, span_end) AS (VALUES {values}),
        samples AS (
            SELECT s.*, w.span_start, w.span_end
            FROM gpu_samples s JOIN spans w ON s.ts >= w.span_start AND s.ts < w.span_end
        ) {_SUMMARY}"""
    params: list[Any] = [bound for span in spans for bound in span]
    return _windows(store.fetch(sql, params), idle_pct, underutilized_pct)


def classify_hourly(
    store: Store, start: datetime, end: datetime, *, idle_pct: float = 5.0, underutilized_pct: float = 40.0
) -> list[GpuWindow]:
    """Classify every GPU hour by hour (UTC) over [start, end)."""
    sql = f"""
        WITH samples AS (
            SELECT *, to_timestamp((epoch(ts) // 3600) * 3600) AS span_start,
                   to_timestamp((epoch(ts) // 3600) * 3600 + 3600) AS span_end
            FROM gpu_samples WHERE ts >= ? AND ts < ?
        ) {_SUMMARY}"""
    return _windows(store.fetch(sql, [start, end]), idle_pct, underutilized_pct)


def _windows(rows: list[tuple[Any, ...]], idle_pct: float, underutilized_pct: float) -> list[GpuWindow]:
    result = []
    for uuid, host, instance, itype, start, end, n, hours, activity, source, holds, kwh in rows:
        result.append(
            GpuWindow(
                uuid, host, instance, itype, start, end, int(n), float(hours),
                None if activity is None else float(activity), source, bool(holds),
                None if kwh is None else float(kwh),
                _state(activity, bool(holds), idle_pct, underutilized_pct),
            )
        )  # fmt: skip
    return result


def _state(activity: float | None, holds: bool, idle_pct: float, underutilized_pct: float) -> str:
    if activity is None:  # samples without any activity metric: say so rather than guess
        return "unknown"
    if activity < idle_pct:
        return "idle_reserved" if holds else "idle_empty"
    if activity < underutilized_pct:
        return "underutilized"
    return "active"
