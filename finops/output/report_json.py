"""The report as JSON: a versioned contract (`finops/schemas/report.v1.json`). Money is exact decimal text."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from finops.allocation import Allocation
from finops.commitments import Commitment
from finops.money import change_ratio, exact_text
from finops.periods import Period
from finops.report import Line, Report
from finops.report_warnings import coverage_dict

VERSION = 1


def _ratio(amount: Decimal, previous: Decimal) -> str | None:
    ratio = change_ratio(amount, previous)
    return None if ratio is None else exact_text(ratio.quantize(Decimal("0.0001")))


def _line(line: Line) -> dict[str, Any]:
    return {
        "key": line.key,
        "amount": exact_text(line.amount),
        "previous": exact_text(line.previous),
        "change_ratio": _ratio(line.amount, line.previous),
    }


def _period(period: Period) -> dict[str, str]:
    return {"start": period.start.isoformat(), "end": period.end.isoformat(), "label": period.label}


def _time(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def report_to_dict(report: Report) -> dict[str, Any]:
    result = _report_dict(report)
    if report.commitments:  # only where the store holds FOCUS contract commitments
        result["commitments"] = [_commitment(c) for c in report.commitments]
    return result


def _commitment(c: Commitment) -> dict[str, Any]:
    return {
        "commitment_id": c.commitment_id,
        "contract_id": c.contract_id,
        "type": c.kind,
        "category": c.category,
        "start": _time(c.start),
        "end": _time(c.end),
        "amount": None if c.amount is None else exact_text(c.amount),
        "currency": c.currency,
        "quantity": None if c.quantity is None else exact_text(c.quantity),
        "unit": c.unit,
        "applied_as": c.applied_as,
        "used": exact_text(c.used),
        "unused": exact_text(c.unused),
        "utilisation": None if c.utilisation is None else exact_text(c.utilisation.quantize(Decimal("0.0001"))),
    }


def _report_dict(report: Report) -> dict[str, Any]:
    gpu = report.gpu
    return {
        "version": VERSION,
        "kind": "finops.report",
        "generated_at": report.generated_at.isoformat(),
        "database": report.database,
        "as_of": report.as_of.isoformat(),
        "period": _period(report.period),
        "previous_period": _period(report.previous),
        "cost_basis": report.cost_basis,
        "currency": report.currency,
        "total": _line(Line("total", report.total, report.previous_total)),
        "breakdowns": [
            {
                "dimension": b.dimension,
                "lines": [_line(line) for line in b.lines],
                "other": _line(b.other) if b.other else None,
            }
            for b in report.breakdowns
        ],
        "top_resources": [
            {
                "resource_id": r.resource_id,
                "name": r.name,
                "provider": r.provider,
                "service": r.service,
                "team": r.team,
                "amount": exact_text(r.amount),
                "previous": exact_text(r.previous),
            }
            for r in report.top_resources
        ],
        "daily": [
            {
                "date": d.day.isoformat(),
                "total": exact_text(d.total),
                "by_provider": {k: exact_text(v) for k, v in d.by_provider.items()},
            }
            for d in report.daily
        ],
        "gpu": {
            "amount": exact_text(gpu.amount),
            "previous": exact_text(gpu.previous),
            "gpu_hours": exact_text(gpu.gpu_hours),
            "lines": [
                {
                    "provider": g.provider,
                    "instance_type": g.instance_type,
                    "gpu_model": g.gpu_model,
                    "gpus_per_instance": g.gpus_per_instance,
                    "instances": g.instances,
                    "gpu_hours": exact_text(g.gpu_hours),
                    "amount": exact_text(g.amount),
                    "previous": exact_text(g.previous),
                    "cost_per_gpu_hour": None
                    if g.cost_per_gpu_hour is None
                    else exact_text(g.cost_per_gpu_hour.quantize(Decimal("0.0001"))),
                    "list_price_per_gpu_hour": exact_text(g.list_price_per_gpu_hour.quantize(Decimal("0.0001"))),
                    "observed_gpu_hours": g.observed_gpu_hours,
                    "mean_util_pct": None if g.mean_util_pct is None else round(g.mean_util_pct, 2),
                }
                for g in gpu.lines
            ],
        },
        "gpu_idle": [
            {
                "instance_id": i.instance_id,
                "instance_type": i.instance_type,
                "team": i.team,
                "gpus": i.gpus,
                "gpu_hours": round(i.gpu_hours, 3),
                "busy_share": round(i.busy_share, 4),
                "hours_by_state": {k: round(v, 3) for k, v in sorted(i.hours_by_state.items())},
                "idle_gpu_hours": round(i.idle_gpu_hours, 3),
                "cost_per_gpu_hour": None
                if i.cost_per_gpu_hour is None
                else exact_text(i.cost_per_gpu_hour.quantize(Decimal("0.0001"))),
                "price_basis": i.price_basis,
                "idle_cost": None if i.idle_cost is None else exact_text(i.idle_cost),
                "idle_energy_kwh": round(i.idle_energy_kwh, 3),
                "signals": list(i.signals),
            }
            for i in report.gpu_idle
        ],
        "inference": [
            {
                "endpoint": e.endpoint,
                "resources": list(e.resources),
                "requests": e.requests,
                "failed": e.failed,
                "input_tokens": e.input_tokens,
                "output_tokens": e.output_tokens,
                "cost": exact_text(e.cost),
                "cost_per_1k_requests": None if e.per_1k_requests is None else exact_text(e.per_1k_requests),
                "cost_per_1m_tokens": None if e.per_1m_tokens is None else exact_text(e.per_1m_tokens),
                "p95_latency_s": None if e.p95_s is None else round(e.p95_s, 4),
                "energy_kwh": None if e.energy_kwh is None else round(e.energy_kwh, 3),
                "kwh_per_1k_requests": None if e.kwh_per_1k_requests is None else round(e.kwh_per_1k_requests, 5),
            }
            for e in report.inference
        ],
        "freshness": [
            {
                "source": f.source,
                "table": f.table,
                "newest": _time(f.newest),
                "last_loaded": _time(f.last_loaded),
                "rows": f.rows,
            }
            for f in report.freshness
        ],
        "allocation": None if report.allocation is None else _allocation(report.allocation),
        "warnings": list(report.warnings),
        **({"coverage": coverage_dict(report.coverage)} if report.coverage else {}),
    }


def _allocation(allocation: Allocation) -> dict[str, Any]:
    return {
        "basis": allocation.basis,
        "policy": allocation.policy,
        "total": exact_text(allocation.total),
        "teams": [
            {"team": t.team, "direct": exact_text(t.direct), "shared": exact_text(t.shared),
             "idle": exact_text(t.idle), "total": exact_text(t.total)}
            for t in allocation.teams
        ],
        "pools": [
            {"name": p.name, "split": p.split, "amount": exact_text(p.amount),
             "shares": {k: exact_text(v) for k, v in sorted(p.shares.items())}}
            for p in allocation.pools
        ],
    }  # fmt: skip


def render_json(report: Report) -> str:
    return json.dumps(report_to_dict(report), indent=2, ensure_ascii=False) + "\n"
