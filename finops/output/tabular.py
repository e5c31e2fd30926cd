"""The report as CSV (one tidy table, safe to open in a spreadsheet) and as Markdown (for pull requests)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from finops.allocation import Allocation
from finops.money import exact_text, format_change, format_money
from finops.report import Line, Report

CSV_COLUMNS = ("section", "dimension", "key", "amount", "previous", "currency")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """Tags and names are user input: a cell starting like a formula is prefixed so a spreadsheet shows it as
    text instead of running it (OWASP CSV injection)."""
    if cell.startswith(_FORMULA_START) and not _is_number(cell):
        return "'" + cell
    return cell


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _rows(report: Report) -> Iterator[tuple[str, str, str, str, str]]:
    yield "total", "", "total", exact_text(report.total), exact_text(report.previous_total)
    for b in report.breakdowns:
        for line in (*b.lines, *((b.other,) if b.other else ())):
            yield "breakdown", b.dimension, line.key, exact_text(line.amount), exact_text(line.previous)
    for g in report.gpu.lines:
        yield "gpu", "instance_type", g.instance_type, exact_text(g.amount), exact_text(g.previous)
    for i in report.gpu_idle:
        if i.idle_cost is not None:
            yield "gpu_idle", "instance", i.instance_id, exact_text(i.idle_cost), ""
    for e in report.inference:
        yield "inference", "endpoint", e.endpoint, exact_text(e.cost), ""
    if report.allocation is not None:
        for t in report.allocation.teams:
            for column in ("direct", "shared", "idle", "total"):
                yield f"allocation_{report.allocation.basis}", column, t.team, exact_text(getattr(t, column)), ""
    for r in report.top_resources:
        yield "top_resources", "resource", r.resource_id, exact_text(r.amount), exact_text(r.previous)
    for d in report.daily:
        for provider, amount in d.by_provider.items():
            yield "daily", provider, d.day.isoformat(), exact_text(amount), ""


def render_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for section, dimension, key, amount, previous in _rows(report):
        writer.writerow([section, neutralise(dimension), neutralise(key), amount, previous, report.currency])
    return buffer.getvalue()


def short_id(resource_id: str) -> str:
    """The last path segment of a cloud resource id: `i-0abc`, `lumen-nd-h100-01`."""
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report) -> str:
    cur = report.currency
    out = [
        f"## Cloud spend, {report.period.label}",
        "",
        f"**{format_money(report.total, cur)}** ({report.cost_basis} cost), "
        f"{format_change(report.total, report.previous_total)} against {report.previous.label} "
        f"({format_money(report.previous_total, cur)}).",
        "",
    ]

    def table(title: str, header: str, lines: list[Line]) -> None:
        out.extend([f"### {title}", "", f"| {header} | Cost | Previous | Change |", "|---|---:|---:|---:|"])
        for line in lines:
            out.append(
                f"| {_md(line.key)} | {format_money(line.amount, cur)} | {format_money(line.previous, cur)} "
                f"| {format_change(line.amount, line.previous)} |"
            )
        out.append("")

    if report.allocation is not None:
        out.extend(_allocation_markdown(report.allocation, cur))
    for b in report.breakdowns:
        table(f"By {b.dimension}", b.dimension.capitalize(), [*b.lines, *((b.other,) if b.other else ())])
    gpu = report.gpu
    out.extend(
        [
            "### GPUs",
            "",
            f"{format_money(gpu.amount, cur)} on GPU instances, {gpu.gpu_hours:,.0f} GPU-hours billed.",
            "",
            "| Instance type | GPUs | Instances | GPU-hours | Cost | Per GPU-hour |",
            "|---|---:|---:|---:|---:|---:|",
        ]
    )
    for g in gpu.lines:
        per = format_money(g.cost_per_gpu_hour, cur) if g.cost_per_gpu_hour is not None else "-"
        out.append(
            f"| {g.instance_type} | {g.gpus_per_instance}x {g.gpu_model} | {g.instances} | "
            f"{g.gpu_hours:,.0f} | {format_money(g.amount, cur)} | {per} |"
        )
    out.append("")
    if report.gpu_idle:
        out.extend(["### Idle GPUs (from telemetry, priced from the bill)", "",
                    "| Instance | Type | Team | GPU-hours | Busy | Idle GPU-hours | Idle cost | Price |",
                    "|---|---|---|---:|---:|---:|---:|---|"])  # fmt: skip
        for i in report.gpu_idle:
            idle_cost = format_money(i.idle_cost, cur) if i.idle_cost is not None else "-"
            out.append(f"| {_md(short_id(i.instance_id))} | {i.instance_type or '-'} | {_md(i.team)} | "
                       f"{i.gpu_hours:,.0f} | {i.busy_share:.0%} | {i.idle_gpu_hours:,.0f} | {idle_cost} | "
                       f"{i.price_basis or '-'} |")  # fmt: skip
        out.append("")
    if report.inference:
        out.extend(["### Inference", "",
                    "| Endpoint | Requests | Cost | Per 1k requests | Per 1M tokens | p95 | kWh per 1k requests |",
                    "|---|---:|---:|---:|---:|---:|---:|"])  # fmt: skip
        for e in report.inference:
            per_k = format_money(e.per_1k_requests, cur, places=4) if e.per_1k_requests is not None else "-"
            per_m = format_money(e.per_1m_tokens, cur, places=4) if e.per_1m_tokens is not None else "-"
            p95 = f"{e.p95_s:.2f} s" if e.p95_s is not None else "-"
            kwh = f"{e.kwh_per_1k_requests:.3f}" if e.kwh_per_1k_requests is not None else "-"
            out.append(f"| {_md(e.endpoint)} | {e.requests:,} | {format_money(e.cost, cur)} | {per_k} | {per_m} | "
                       f"{p95} | {kwh} |")  # fmt: skip
        out.append("")
    table("Top resources", "Resource", [Line(r.resource_id, r.amount, r.previous) for r in report.top_resources])
    return "\n".join(out)


def _allocation_markdown(allocation: Allocation, cur: str) -> list[str]:
    out = [f"### By team ({allocation.basis})", "", "| Team | Direct | Shared | Idle GPU | Total |",
           "|---|---:|---:|---:|---:|"]  # fmt: skip
    for t in allocation.teams:
        cells = " | ".join(format_money(x, cur) for x in (t.direct, t.shared, t.idle, t.total))
        out.append(f"| {_md(t.team)} | {cells} |")
    out += ["", f"Team totals sum to {format_money(allocation.total, cur)}. Policy: {_md(allocation.policy)}.", ""]
    return out
