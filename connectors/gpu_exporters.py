"""GPU telemetry from what clusters already run: dcgm-exporter, nvidia_gpu_exporter and Triton's GPU gauges from
`/metrics` text (parsed with prometheus_client's own parser, from a file or a URL), and `nvidia-smi --query-gpu ...
--format=csv` logs (units inside the cells). Rows come out in the sampler's shape, so they land in the same
`gpu_samples` table.

Only what identifies a GPU is attributed: a metric without a GPU UUID label is skipped, never guessed.
Kubernetes pod, namespace and container labels are kept (as `labels`) for chargeback.
"""

from __future__ import annotations

import csv
import io
import math
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from finops.errors import InputError

# metric -> (field, factor): dcgm-exporter reports MiB, W, mJ, MHz and 0-1 ratios for the PROF fields. Where two
# metrics give one field, the one listed first wins, whatever the page's order.
DCGM: dict[str, tuple[str, int | Decimal]] = {
    "DCGM_FI_DEV_GPU_UTIL": ("util_gpu_pct", 1),
    "DCGM_FI_DEV_MEM_COPY_UTIL": ("util_mem_pct", 1),
    "DCGM_FI_DEV_FB_USED": ("mem_used_bytes", 2**20),
    "DCGM_FI_DEV_FB_TOTAL": ("mem_total_bytes", 2**20),
    "DCGM_FI_DEV_POWER_USAGE": ("power_w", 1),
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": ("energy_j", Decimal("0.001")),
    "DCGM_FI_DEV_SM_CLOCK": ("sm_clock_mhz", 1),
    "DCGM_FI_DEV_MEM_CLOCK": ("mem_clock_mhz", 1),
    "DCGM_FI_PROF_SM_ACTIVE": ("sm_active_pct", 100),
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": ("gr_engine_active_pct", 100),  # in dcgm-exporter's default counters
    "DCGM_FI_PROF_SM_OCCUPANCY": ("sm_occupancy_pct", 100),
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": ("tensor_active_pct", 100),
    "DCGM_FI_PROF_DRAM_ACTIVE": ("dram_active_pct", 100),
    # the default counters have no FB_TOTAL: used + free + reserved is the total (below)
    "DCGM_FI_DEV_FB_FREE": ("_mem_free", 2**20),
    "DCGM_FI_DEV_FB_RESERVED": ("_mem_reserved", 2**20),
}
NVIDIA_SMI: dict[str, tuple[str, int | Decimal]] = {
    "nvidia_smi_utilization_gpu_ratio": ("util_gpu_pct", 100),
    "nvidia_smi_utilization_memory_ratio": ("util_mem_pct", 100),
    "nvidia_smi_memory_used_bytes": ("mem_used_bytes", 1),
    "nvidia_smi_memory_total_bytes": ("mem_total_bytes", 1),
    # power.draw.average is what nvidia-smi's power.draw means since driver 530; instant is one reading
    "nvidia_smi_power_draw_average_watts": ("power_w", 1),
    "nvidia_smi_power_draw_watts": ("power_w", 1),
    "nvidia_smi_power_draw_instant_watts": ("power_w", 1),
    "nvidia_smi_clocks_current_sm_clock_hz": ("sm_clock_mhz", Decimal("1e-6")),
    "nvidia_smi_clocks_current_memory_clock_hz": ("mem_clock_mhz", Decimal("1e-6")),
}
# Triton Inference Server's own GPU gauges, labelled gpu_uuid (without the GPU- prefix).
TRITON: dict[str, tuple[str, int | Decimal]] = {
    "nv_gpu_utilization": ("util_gpu_pct", 100),
    "nv_gpu_memory_used_bytes": ("mem_used_bytes", 1),
    "nv_gpu_memory_total_bytes": ("mem_total_bytes", 1),
    "nv_gpu_power_usage": ("power_w", 1),
    "nv_energy_consumption": ("energy_j", 1),
}
METRICS = {**DCGM, **NVIDIA_SMI, **TRITON}
RANK = {name: rank for rank, name in enumerate(METRICS)}
UUID_LABELS = ("UUID", "uuid", "gpu_uuid")
KUBERNETES = ("pod", "namespace", "container")
INTEGERS = ("mem_used_bytes", "mem_total_bytes", "_mem_free", "_mem_reserved")


def _scaled(value: float, factor: int | Decimal, field: str) -> float | int:
    """The page's number times the unit factor, in decimal: 0.07 x 100 is 7.0, not 7.000000000000001."""
    exact = Decimal(repr(value)) * factor
    return int(exact) if field in INTEGERS else float(exact)


def parse_metrics(
    text: str, *, scraped_at: datetime, host: str | None = None, origin: str = "metrics"
) -> list[dict[str, Any]]:
    """One row per GPU (or MIG instance) from one scrape of an exporter's `/metrics` page."""
    from prometheus_client.parser import text_string_to_metric_families

    rows: dict[tuple[str, str | None], dict[str, Any]] = {}
    ranks: dict[tuple[str, str | None], dict[str, int]] = {}
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as e:
        raise InputError(f"{origin}: not Prometheus exposition text: {e}") from e
    for family in families:
        for sample in family.samples:
            labels = sample.labels
            uuid = next((labels[k] for k in UUID_LABELS if labels.get(k)), None)
            if not uuid:
                continue  # e.g. a PROF block without labels: not attributable to a GPU
            key = (uuid, labels.get("GPU_I_ID"))
            row = rows.setdefault(key, _new_row(uuid, labels, scraped_at, host))
            if sample.name == "nvidia_smi_gpu_info":
                row["gpu_model"] = labels.get("name") or row["gpu_model"]
                row["gpu_index"] = int(labels["index"]) if labels.get("index", "").isdigit() else row["gpu_index"]
                continue
            # prometheus_client names a counter's sample `<name>_total` even where the page writes `<name>`.
            name = sample.name.removesuffix("_total") if family.type == "counter" else sample.name
            spec = METRICS.get(name)
            if spec is None or math.isnan(sample.value):
                continue
            field, factor = spec
            seen = ranks.setdefault(key, {})
            if RANK[name] < seen.get(field, len(RANK)):  # the better metric for the field wins, in any order
                seen[field] = RANK[name]
                row[field] = _scaled(float(sample.value), factor, field)
    return [_finish(row) for row in rows.values()]


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    free, reserved = row.pop("_mem_free", None), row.pop("_mem_reserved", None)
    if row.get("mem_total_bytes") is None and row.get("mem_used_bytes") is not None and free is not None:
        row["mem_total_bytes"] = row["mem_used_bytes"] + free + (reserved or 0)
    return row


def _new_row(uuid: str, labels: dict[str, str], scraped_at: datetime, host: str | None) -> dict[str, Any]:
    kube = {k: labels[k] for k in KUBERNETES if labels.get(k)}
    return {
        "ts": scraped_at, "gpu_uuid": uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}",
        "gpu_index": int(labels["gpu"]) if labels.get("gpu", "").isdigit() else None,
        "gpu_model": labels.get("modelName"), "mig_instance_id": labels.get("GPU_I_ID"),
        "mig_profile": labels.get("GPU_I_PROFILE"),
        # dcgm-exporter renamed Hostname to hostname in 2026: both are read.
        "host": labels.get("hostname") or labels.get("Hostname") or host,
        "labels": kube or None, "x_Day": scraped_at.date(),
    }  # fmt: skip


_UNIT = re.compile(r"^\s*(-?[\d.]+)\s*(%|W|MiB|MHz)?\s*$")
SMI_COLUMNS = {
    "utilization.gpu": ("util_gpu_pct", 1.0),
    "utilization.memory": ("util_mem_pct", 1.0),
    "memory.used": ("mem_used_bytes", 2.0**20),
    "memory.total": ("mem_total_bytes", 2.0**20),
    # best first: the one-second average (what power.draw means since driver 530), then the instant reading
    "power.draw.average": ("power_w", 1.0),
    "power.draw": ("power_w", 1.0),
    "power.draw.instant": ("power_w", 1.0),
    "clocks.current.sm": ("sm_clock_mhz", 1.0),
    "clocks.sm": ("sm_clock_mhz", 1.0),
    "clocks.current.memory": ("mem_clock_mhz", 1.0),
    "clocks.mem": ("mem_clock_mhz", 1.0),
}


def parse_nvidia_smi_csv(path: Path, *, host: str | None = None) -> list[dict[str, Any]]:
    """`nvidia-smi --query-gpu=timestamp,uuid,... --format=csv -l N` output. Timestamps are taken as UTC (run
    nvidia-smi with TZ=UTC); `[N/A]` and `[Not Supported]` cells are NULL."""
    text = path.read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    header = [re.sub(r"\s*\[.*\]$", "", name.strip()) for name in next(reader, [])]
    if "timestamp" not in header or "uuid" not in header:
        raise InputError(
            f"{path}: not nvidia-smi CSV with timestamp and uuid columns",
            hint="nvidia-smi --query-gpu=timestamp,index,uuid,name,utilization.gpu,... --format=csv",
        )
    rows = []
    for number, cells in enumerate(reader, start=1):
        if not cells:
            continue
        record = dict(zip(header, (c.strip() for c in cells), strict=False))
        try:
            ts = datetime.strptime(record["timestamp"], "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=UTC)
        except ValueError as e:
            raise InputError(f"{path}: row {number}, column timestamp: {record['timestamp']!r} is not a time") from e
        row: dict[str, Any] = {"ts": ts, "gpu_uuid": record["uuid"], "gpu_model": record.get("name"), "host": host,
                               "gpu_index": int(record["index"]) if record.get("index", "").isdigit() else None,
                               "x_Day": ts.date()}  # fmt: skip
        for column, (field, factor) in SMI_COLUMNS.items():
            if column in record and row.get(field) is None:
                row[field] = _smi_value(record[column], factor, field, path, number, column)
        rows.append(row)
    return rows


def _smi_value(cell: str, factor: float, field: str, path: Path, number: int, column: str) -> float | int | None:
    if cell.startswith("[") or cell in ("", "N/A"):
        return None
    match = _UNIT.match(cell)
    if not match:
        raise InputError(f"{path}: row {number}, column {column}: {cell!r} is not a number with a unit")
    value = float(match.group(1)) * factor
    return int(value) if field in INTEGERS else value


def query_range(
    base_url: str, start: datetime, end: datetime, step_s: int, *, host: str | None = None
) -> list[dict[str, Any]]:
    """Rows from a Prometheus server that already scrapes dcgm-exporter: one `query_range` per DCGM field
    (HTTP API v1), joined on GPU and timestamp. Series without a UUID label are skipped."""
    from finops.connectors.prometheus_api import query_range as fetch

    rows: dict[tuple[str, str | None, datetime], dict[str, Any]] = {}
    for metric, (field, factor) in DCGM.items():  # listed best first: a field already filled keeps its value
        for labels, points in fetch(base_url, metric, start, end, step_s):
            uuid = next((labels[k] for k in UUID_LABELS if labels.get(k)), None)
            if not uuid:
                continue
            for ts, value in points:
                key = (uuid, labels.get("GPU_I_ID"), ts)
                row = rows.setdefault(key, {**_new_row(uuid, labels, ts, host), "interval_s": float(step_s)})
                if row.get(field) is None and not math.isnan(value):
                    row[field] = _scaled(value, factor, field)
    return sorted((_finish(row) for row in rows.values()), key=lambda r: (r["gpu_uuid"], r["ts"]))
