"""The report as one self-contained HTML file: inline CSS and SVG charts, no script, nothing fetched when it
opens. Fit to attach to an email or publish as a CI artifact. Every value from the data is escaped."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from finops.money import format_change, format_money
from finops.output import svg
from finops.output.tabular import short_id
from finops.report import Report

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #111; margin: 2rem auto;
       max-width: 960px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
.meta, .note { color: #555; font-size: .9rem; }
.total { font-size: 1.8rem; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; font-size: .9rem; }
th, td { padding: .3rem .5rem; border-bottom: 1px solid #e5e5e5; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.sev-critical, .sev-high { color: #b91c1c; font-weight: 600; } .sev-medium { color: #b45309; }
.warn { color: #b45309; }
"""


def render_html(report: Report) -> str:
    cur = report.currency
    parts = [
        f"<h1>Cloud spend, {escape(report.period.label)}</h1>",
        f'<p class="meta">{escape(report.cost_basis)} cost, data as of {report.as_of}, generated '
        f"{report.generated_at:%Y-%m-%d %H:%M} UTC from {escape(report.database)}</p>",
        f'<p><span class="total">{format_money(report.total, cur)}</span> '
        f"{escape(format_change(report.total, report.previous_total))} against {escape(report.previous.label)} "
        f"({format_money(report.previous_total, cur)})</p>",
    ]
    parts += [f'<p class="warn">warning: {escape(w)}</p>' for w in report.warnings]
    parts += _daily(report) + _teams(report) + _gpus(report) + _inference(report) + _findings(report)
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No network at open time, by policy and not just by habit: the browser refuses any fetch.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'img-src data:">'
        f"<title>finops: {escape(report.period.label)}</title><style>{CSS}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )


def _daily(report: Report) -> list[str]:
    providers = sorted({p for d in report.daily for p in d.by_provider})
    columns = [(f"{d.day:%b %d}", [float(d.by_provider.get(p, Decimal(0))) for p in providers]) for d in report.daily]
    chart = svg.stacked_columns(columns, providers, unit="$" if report.currency == "USD" else "")
    return ["<h2>Daily spend by provider</h2>", chart]


def _teams(report: Report) -> list[str]:
    allocation = report.allocation
    if allocation is None:
        return []
    cur = report.currency
    rows = [(t.team, [float(t.direct), float(t.shared), float(t.idle)]) for t in allocation.teams]
    chart = svg.stacked_rows(rows, ["direct", "shared", "idle GPU"], unit="$" if cur == "USD" else "",
                             colors=["#2563eb", "#93c5fd", "#d97706"])  # fmt: skip
    table = ["<table><tr><th>Team</th><th class=n>Direct</th><th class=n>Shared</th><th class=n>Idle GPU</th>"
             "<th class=n>Total</th></tr>"]  # fmt: skip
    for t in allocation.teams:
        cells = "".join(f"<td class=n>{format_money(x, cur)}</td>" for x in (t.direct, t.shared, t.idle, t.total))
        table.append(f"<tr><td>{escape(t.team)}</td>{cells}</tr>")
    table.append("</table>")
    note = (f'<p class="note">{escape(allocation.basis)} basis, policy {escape(allocation.policy)}; team totals sum '
            f"to {format_money(allocation.total, cur)} to the cent.</p>")  # fmt: skip
    return ["<h2>Spend by team</h2>", chart, "".join(table), note]


def _gpus(report: Report) -> list[str]:
    if not report.gpu_idle:
        return []
    cur = report.currency
    rows = [(short_id(i.instance_id), [i.gpu_hours - i.idle_gpu_hours, i.idle_gpu_hours]) for i in report.gpu_idle]
    chart = svg.stacked_rows(rows, ["busy GPU-hours", "idle GPU-hours"], colors=["#16a34a", "#dc2626"])
    table = ["<table><tr><th>Instance</th><th>Type</th><th>Team</th><th class=n>GPU-hours</th><th class=n>Busy</th>"
             "<th class=n>Idle cost</th></tr>"]  # fmt: skip
    for i in report.gpu_idle:
        cost = format_money(i.idle_cost, cur) if i.idle_cost is not None else "-"
        table.append(f"<tr><td>{escape(short_id(i.instance_id))}</td><td>{escape(i.instance_type or '-')}</td>"
                     f"<td>{escape(i.team)}</td><td class=n>{i.gpu_hours:,.0f}</td>"
                     f"<td class=n>{i.busy_share:.0%}</td><td class=n>{cost}</td></tr>")  # fmt: skip
    table.append("</table>")
    return ["<h2>GPUs: busy and idle hours</h2>", chart, "".join(table)]


def _inference(report: Report) -> list[str]:
    if not report.inference:
        return []
    cur = report.currency
    parts = ["<h2>Cost per 1,000 requests</h2>"]
    if report.unit_cost_daily:
        series = [(name, [(f"{day:%b %d}", float(v)) for day, v in points])
                  for name, points in sorted(report.unit_cost_daily.items())]  # fmt: skip
        parts.append(svg.lines(series, unit="$" if cur == "USD" else ""))
    table = ["<table><tr><th>Endpoint</th><th class=n>Requests</th><th class=n>Cost</th><th class=n>Per 1k</th>"
             "<th class=n>p95</th></tr>"]  # fmt: skip
    for e in report.inference:
        per_k = format_money(e.per_1k_requests, cur, places=4) if e.per_1k_requests is not None else "-"
        p95 = f"{e.p95_s:.2f} s" if e.p95_s is not None else "-"
        table.append(f"<tr><td>{escape(e.endpoint)}</td><td class=n>{e.requests:,}</td>"
                     f"<td class=n>{format_money(e.cost, cur)}</td><td class=n>{per_k}</td>"
                     f"<td class=n>{p95}</td></tr>")  # fmt: skip
    table.append("</table>")
    return [*parts, "".join(table)]


def _findings(report: Report) -> list[str]:
    parts = ["<h2>Findings</h2>"]
    if not report.findings:
        return [*parts, '<p class="note">No stored findings for this period (run <code>finops rules run</code>).</p>']
    table = ["<table><tr><th>Rule</th><th>Severity</th><th>Subject</th><th class=n>Amount</th><th>What</th></tr>"]
    for f in report.findings:
        amount = format_money(f.amount, f.currency or report.currency) if f.amount is not None else "-"
        table.append(f"<tr><td>{escape(f.rule_id)}</td><td class=\"sev-{escape(f.severity)}\">{escape(f.severity)}"
                     f"</td><td>{escape(short_id(f.subject))}</td><td class=n>{amount}</td>"
                     f"<td>{escape(f.message)}</td></tr>")  # fmt: skip
    table.append("</table>")
    return [*parts, "".join(table)]
