"""`finops gpu report` as JSON (a versioned contract: finops/schemas/gpu_report.v1.json), CSV and Markdown."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

from finops.gpu_hours import STATES
from finops.gpu_report import GpuDevice, GpuGroup, GpuReport
from finops.money import exact_text, format_money
from finops.output.tabular import neutralise

VERSION = 1
UNPRICED = "unpriced"
_FOUR = Decimal("0.0001")


def _hours(value: float) -> float:
    return round(float(value), 4)


def _optional(value: float | None, places: int = 2) -> float | None:
    return None if value is None else round(value, places)


def device_to_dict(d: GpuDevice) -> dict[str, Any]:
    return {
        "instance": d.instance, "host": d.host, "instance_type": d.instance_type, "team": d.team,
        "gpu_uuid": d.gpu_uuid, "mig_instance_id": d.mig_instance_id, "mig_profile": d.mig_profile,
        "gpu_model": d.gpu_model, "share_of_gpu": round(d.share, 6), "samples": d.samples, "verdict": d.verdict,
        "signals": list(d.signals), "gpu_hours": _hours(d.gpu_hours), "idle_gpu_hours": _hours(d.idle_gpu_hours),
        "busy_share": _optional(d.busy_share, 4),
        "hours_by_state": {s: _hours(d.hours_by_state[s]) for s in STATES if s in d.hours_by_state},
        "activity_pct": _optional(d.activity_pct), "tensor_active_pct": _optional(d.tensor_active_pct),
        "dram_active_pct": _optional(d.dram_active_pct), "energy_kwh": _optional(d.energy_kwh, 4),
        "idle_energy_kwh": _optional(d.idle_energy_kwh, 4),
        "cost_per_gpu_hour": None if d.cost_per_gpu_hour is None else exact_text(d.cost_per_gpu_hour.quantize(
            _FOUR)),
        "price_basis": d.price_basis or UNPRICED,
        "idle_cost": None if d.idle_cost is None else exact_text(d.idle_cost),
    }  # fmt: skip


def group_to_dict(g: GpuGroup) -> dict[str, Any]:
    return {
        "key": g.key, "devices": g.devices, "gpu_hours": _hours(g.gpu_hours),
        "idle_gpu_hours": _hours(g.idle_gpu_hours),
        "hours_by_state": {s: _hours(g.hours_by_state[s]) for s in STATES if s in g.hours_by_state},
        "energy_kwh": round(g.energy_kwh, 4), "idle_cost": exact_text(g.idle_cost),
        "unpriced_idle_gpu_hours": _hours(g.unpriced_idle_gpu_hours),
    }  # fmt: skip


def render_json(report: GpuReport) -> str:
    body = {
        "version": VERSION, "database": report.database, "generated_at": report.generated_at.isoformat(),
        "period": {"start": report.period.start.isoformat(), "end": report.period.end.isoformat(),
                   "label": report.period.label},
        "currency": report.currency, "group_by": report.group_by, "total": group_to_dict(report.total),
        "groups": [group_to_dict(g) for g in report.groups], "devices": [device_to_dict(d) for d in report.devices],
    }  # fmt: skip
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


CSV_COLUMNS = ("instance", "host", "instance_type", "team", "gpu_uuid", "mig_instance_id", "mig_profile", "verdict",
               "signals", "gpu_hours", "idle_gpu_hours", *(f"{s}_gpu_hours" for s in STATES), "energy_kwh",
               "cost_per_gpu_hour", "price_basis", "idle_cost", "currency")  # fmt: skip


def render_csv(report: GpuReport) -> str:
    """One row per device: tidy, for a spreadsheet (cells that look like formulas are neutralised)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for d in report.devices:
        row = device_to_dict(d)
        cells = [*(row[c] for c in CSV_COLUMNS[:8]), " ".join(d.signals), row["gpu_hours"], row["idle_gpu_hours"],
                 *(row["hours_by_state"].get(s, 0) for s in STATES), row["energy_kwh"], row["cost_per_gpu_hour"],
                 row["price_basis"], row["idle_cost"], report.currency]  # fmt: skip
        writer.writerow([neutralise(c) if isinstance(c, str) else "" if c is None else c for c in cells])
    return buffer.getvalue()


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def device_label(d: GpuDevice) -> str:
    """`GPU-1a2b3c4d` or `GPU-1a2b3c4d MIG 3 (3g.40gb)`."""
    label = d.gpu_uuid[:12]
    if d.mig_instance_id is not None:
        label += f" MIG {d.mig_instance_id}" + (f" ({d.mig_profile})" if d.mig_profile else "")
    return label


def idle_cost_text(cost: Decimal | None, basis: str | None, currency: str) -> str:
    return UNPRICED if cost is None else f"{format_money(cost, currency)} ({basis})"


def render_markdown(report: GpuReport) -> str:
    cur, total = report.currency, report.total
    out = [
        f"## GPUs, {report.period.label}",
        "",
        f"**{total.idle_gpu_hours:,.1f} idle of {total.gpu_hours:,.1f} GPU-hours** on {total.devices} GPU(s) and MIG "
        f"instance(s); idle cost {format_money(total.idle_cost, cur)} where priced"
        + (
            f", {total.unpriced_idle_gpu_hours:,.1f} idle GPU-hours unpriced." if total.unpriced_idle_gpu_hours else "."
        ),
        "",
    ]
    if report.groups:
        out += [f"| {report.group_by} | Devices | GPU-hours | Idle GPU-hours | kWh | Idle cost |",
                "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
        for g in report.groups:
            out.append(f"| {_md(g.key)} | {g.devices} | {g.gpu_hours:,.2f} | {g.idle_gpu_hours:,.2f} | "
                       f"{g.energy_kwh:,.2f} | {format_money(g.idle_cost, cur)} |")  # fmt: skip
        out.append("")
    out += ["| Instance | GPU | Verdict | Signal | Busy | GPU-hours | Idle GPU-hours | kWh | Idle cost |",
            "|---|---|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for d in report.devices:
        busy = "-" if d.busy_share is None else f"{d.busy_share:.0%}"
        kwh = "-" if d.energy_kwh is None else f"{d.energy_kwh:,.2f}"
        out.append(f"| {_md(d.instance)} | {_md(device_label(d))} | {d.verdict} | {', '.join(d.signals) or '-'} | "
                   f"{busy} | {d.gpu_hours:,.2f} | {d.idle_gpu_hours:,.2f} | {kwh} | "
                   f"{idle_cost_text(d.idle_cost, d.price_basis, cur)} |")  # fmt: skip
    return "\n".join(out) + "\n"
