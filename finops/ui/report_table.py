"""The report in a terminal: tables with bars, a stacked daily trend, GPU and freshness sections."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from finops.allocation import Allocation
from finops.money import change_ratio, format_change, format_money
from finops.output.tabular import short_id
from finops.report import Breakdown, Report
from finops.ui.fit import fit_table

PROVIDER_STYLES = ("cyan", "magenta", "green", "yellow", "blue", "red")
PROVIDER_GLYPHS = ("█", "▓", "▒", "░")  # providers stay apart without colour (NO_COLOR, pipes, email)
BAR_WIDTH = 14


def _change_text(amount: Decimal, previous: Decimal) -> Text:
    ratio = change_ratio(amount, previous)
    style = (
        "dim" if ratio is None else "red" if ratio > Decimal("0.05") else "green" if ratio < -Decimal("0.05") else ""
    )
    return Text(format_change(amount, previous), style=style)


def _bar(value: Decimal, largest: Decimal, width: int = BAR_WIDTH) -> Text:
    if largest <= 0 or value <= 0:
        return Text("")
    cells = float(value / largest) * width
    full = int(cells)
    return Text("█" * full + ("▌" if cells - full >= 0.5 else ""), style="cyan")


def _places(amounts: list[Decimal]) -> int:
    """Whole units once a table holds thousands: cents are noise in an overview (JSON and CSV stay exact)."""
    return 0 if max((abs(a) for a in amounts), default=Decimal(0)) >= 1000 else 2


def _breakdown_table(b: Breakdown, report: Report) -> Table:
    cur = report.currency
    table = Table(title=f"By {b.dimension}", title_justify="left", title_style="bold", expand=False)
    table.add_column(b.dimension.capitalize(), overflow="ellipsis", no_wrap=True, max_width=40)
    table.add_column("Cost", justify="right", no_wrap=True)
    table.add_column("Previous", justify="right", style="dim", no_wrap=True)
    table.add_column("Change", justify="right", no_wrap=True)
    table.add_column("Share", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    lines = [*b.lines, *((b.other,) if b.other else ())]
    largest = max((line.amount for line in lines), default=Decimal(0))
    places = _places([x for line in lines for x in (line.amount, line.previous)])
    for line in lines:
        share = f"{line.amount / report.total * 100:.1f}%" if report.total else "-"
        key_style = "dim italic" if line.key.startswith("(") else ""
        table.add_row(
            Text(line.key, style=key_style),
            format_money(line.amount, cur, places=places),
            format_money(line.previous, cur, places=places),
            _change_text(line.amount, line.previous),
            share,
            _bar(line.amount, largest),
        )
    return table


def _daily(report: Report, columns: int = 120) -> Table:
    providers = sorted({p for d in report.daily for p in d.by_provider})
    styles = {p: PROVIDER_STYLES[i % len(PROVIDER_STYLES)] for i, p in enumerate(providers)}
    glyphs = {p: PROVIDER_GLYPHS[i % len(PROVIDER_GLYPHS)] for i, p in enumerate(providers)}
    legend = "  ".join(f"[{styles[p]}]{glyphs[p]}[/] {p}" for p in providers)
    table = Table(title=f"Daily spend   {legend}", title_justify="left", title_style="bold", box=None)
    table.add_column("Day")
    table.add_column("Cost", justify="right")
    table.add_column("By provider", no_wrap=True)
    largest = max((d.total for d in report.daily), default=Decimal(0))
    cost = max((len(format_money(d.total, report.currency, places=0)) for d in report.daily), default=4)
    width = max(10, min(40, columns - 10 - cost - 6))  # the bar takes what the day and its cost leave
    for d in report.daily:
        bar = Text()
        for provider, amount in d.by_provider.items():
            if amount > 0 and largest > 0:
                bar.append(glyphs[provider] * round(float(amount / largest) * width), style=styles[provider])
        table.add_row(f"{d.day:%a %b %d}", format_money(d.total, report.currency, places=0), bar)
    return table


def _gpu(report: Report) -> Table:
    gpu, cur = report.gpu, report.currency
    share = f", {gpu.amount / report.total * 100:.1f}% of spend" if report.total else ""
    table = Table(
        title=f"GPUs: {format_money(gpu.amount, cur)} ({format_change(gpu.amount, gpu.previous)}){share}, "
        f"{gpu.gpu_hours:,.0f} GPU-hours billed",
        title_justify="left",
        title_style="bold",
    )
    if not gpu.lines:
        table.add_column("No GPU instances billed in this period.", style="dim")
        return table
    table.caption = "Per GPU-h: from the bill (amortised). List: bundled list price, for reference. Util: telemetry."
    for name in ("Instance type", "GPUs", "Inst.", "GPU-h", "Cost", "Per GPU-h", "List", "Util"):
        table.add_column(name, justify="left" if name in ("Instance type", "GPUs") else "right", no_wrap=True)
    for g in gpu.lines:
        per = format_money(g.cost_per_gpu_hour, cur) if g.cost_per_gpu_hour is not None else "-"
        util = "-" if g.mean_util_pct is None else f"{g.mean_util_pct:.0f}%"
        table.add_row(
            g.instance_type,
            f"{g.gpus_per_instance}x {g.gpu_model}",
            str(g.instances),
            f"{g.gpu_hours:,.0f}",
            format_money(g.amount, cur, places=_places([x.amount for x in gpu.lines])),
            per,
            format_money(g.list_price_per_gpu_hour, cur),
            util,
        )
    return table


def _gpu_idle(report: Report) -> Table:
    cur = report.currency
    total = sum((i.idle_cost for i in report.gpu_idle if i.idle_cost is not None), Decimal(0))
    table = Table(title=f"Idle GPUs: {format_money(total, cur)} of idle GPU-hours (telemetry, priced from the bill)",
                  title_justify="left", title_style="bold")  # fmt: skip
    table.caption = "Busy: share of GPU-hours not idle (SM activity where the GPU reports it). Idle: empty or held."
    for name in ("Instance", "Type", "Team", "GPU-h", "Busy", "Idle GPU-h", "Idle cost", "Price"):
        table.add_column(name, justify="left" if name in ("Instance", "Type", "Team", "Price") else "right",
                         no_wrap=True, overflow="ellipsis", max_width=24 if name == "Instance" else None)  # fmt: skip
    places = _places([i.idle_cost for i in report.gpu_idle if i.idle_cost is not None])
    for i in report.gpu_idle:
        table.add_row(short_id(i.instance_id), i.instance_type or "-", i.team, f"{i.gpu_hours:,.0f}",
                      f"{i.busy_share:.0%}", f"{i.idle_gpu_hours:,.0f}",
                      format_money(i.idle_cost, cur, places=places) if i.idle_cost is not None else "-",
                      i.price_basis or "-")  # fmt: skip
    return table


def _inference(report: Report) -> Table:
    cur = report.currency
    table = Table(title="Inference: cost per request from the bill of the serving instances",
                  title_justify="left", title_style="bold")  # fmt: skip
    table.caption = "Shared instances are split by successful requests; p95 from the window's latency histograms."
    for name in ("Endpoint", "Requests", "Failed", "Cost", "Per 1k req", "Per 1M tokens", "p95", "kWh/1k req"):
        table.add_column(name, justify="left" if name == "Endpoint" else "right", no_wrap=True)
    for e in report.inference:
        table.add_row(
            e.endpoint, f"{e.requests:,}", f"{e.failed:,}", format_money(e.cost, cur, places=0),
            format_money(e.per_1k_requests, cur, places=4) if e.per_1k_requests is not None else "-",
            format_money(e.per_1m_tokens, cur, places=4) if e.per_1m_tokens is not None else "-",
            f"{e.p95_s:.2f} s" if e.p95_s is not None else "-",
            f"{e.kwh_per_1k_requests:.3f}" if e.kwh_per_1k_requests is not None else "-",
        )  # fmt: skip
    return table


def _commitments(report: Report) -> Table:
    """Contract commitments (FOCUS 1.3+) active in the period: term, amount, and what the period's cost rows used
    and left unused of each (finops.commitments)."""
    table = Table(title="Contract commitments: used and unused in this period", title_justify="left",
                  title_style="bold")  # fmt: skip
    table.caption = "Used/unused: what the period's usage rows applied to each commitment (ContractApplied, or the "
    table.caption += "commitment discount id); quantities in the commitment's unit."
    for name in ("Commitment", "Type", "Term", "Amount", "Used", "Unused", "Use"):
        table.add_column(name, justify="left" if name in ("Commitment", "Type", "Term") else "right", no_wrap=True,
                         overflow="ellipsis", max_width=30 if name == "Commitment" else None)  # fmt: skip
    for c in report.commitments:
        term = f"{c.start:%Y-%m-%d}..{c.end:%Y-%m-%d}" if c.start and c.end else "-"
        if c.category == "Usage" and c.quantity is not None:
            amount = f"{c.quantity:,.0f} {c.unit or ''}".strip()
        else:
            amount = format_money(c.amount, c.currency or report.currency, places=0) if c.amount is not None else "-"
        if c.applied_as == "quantity":
            used, unused = f"{c.used:,.2f} {c.unit or ''}".strip(), f"{c.unused:,.2f}"
        else:
            cur = c.currency or report.currency
            used, unused = format_money(c.used, cur, places=2), format_money(c.unused, cur, places=2)
        share = f"{c.utilisation:.0%}" if c.utilisation is not None else "-"
        table.add_row(short_id(c.commitment_id), c.kind or c.category or "-", term, amount, used, unused, share)
    return table


def _resources(report: Report) -> Table:
    table = Table(title="Top resources", title_justify="left", title_style="bold")
    table.add_column("Resource", overflow="ellipsis", no_wrap=True, max_width=36)
    table.add_column("Service", overflow="ellipsis", no_wrap=True, max_width=22)
    table.add_column("Team", overflow="ellipsis", no_wrap=True, max_width=16)
    table.add_column("Cost", justify="right", no_wrap=True)
    table.add_column("Change", justify="right", no_wrap=True)
    for r in report.top_resources:
        table.add_row(
            r.name or r.resource_id,
            r.service or "",
            r.team,
            format_money(r.amount, report.currency, places=_places([x.amount for x in report.top_resources])),
            _change_text(r.amount, r.previous),
        )
    return table


def _age(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "-"
    hours = (now - value).total_seconds() / 3600
    return f"{hours:.0f}h ago" if hours < 48 else f"{hours / 24:.0f}d ago"


def _freshness(report: Report) -> Table:
    now = datetime.now(UTC)
    table = Table(title="Data freshness", title_justify="left", title_style="bold", box=None)
    for name in ("Source", "Table", "Data through", "Age", "Last loaded", "Rows"):
        table.add_column(name, justify="right" if name == "Rows" else "left", no_wrap=True)
    for f in report.freshness:
        newest = f"{f.newest:%Y-%m-%d %H:%M}" if f.newest else "-"
        table.add_row(f.source, f.table, newest, _age(f.newest, now), _age(f.last_loaded, now), f"{f.rows:,}")
    return table


def _allocation(report: Report, allocation: Allocation) -> list[object]:
    cur = report.currency
    basis = "chargeback: amortised, credits, tax and fees included" if allocation.basis == "chargeback" else (
        "showback: usage at amortised cost, before credits, tax and fees")  # fmt: skip
    table = Table(title=f"By team ({basis})", title_justify="left", title_style="bold")
    table.caption = (
        "Direct: the team's own cost less its idle GPU-hours. Shared: its part of the shared pools. "
        "Idle: idle GPU-hours on its instances and its part of shared ones."
    )
    places = _places([t.total for t in allocation.teams])
    sums = [sum((getattr(t, c) for t in allocation.teams), Decimal(0)) for c in ("direct", "shared", "idle", "total")]
    # Money columns never shrink (a truncated amount is a wrong amount); the team name gives way instead.
    width = max(len(format_money(x, cur, places=places)) for x in sums)
    table.add_column("Team", overflow="ellipsis", no_wrap=True, max_width=24)
    for name in ("Direct", "Shared", "Idle GPU", "Total"):
        table.add_column(name, justify="right", no_wrap=True, min_width=max(width, len(name)))
    table.add_column("Share", justify="right", no_wrap=True, min_width=6)
    for t in allocation.teams:
        share = f"{t.total / allocation.total * 100:.1f}%" if allocation.total else "-"
        table.add_row(Text(t.team, style="dim italic" if t.team.startswith("(") else ""),
                      *(format_money(x, cur, places=places) for x in (t.direct, t.shared, t.idle, t.total)),
                      share)  # fmt: skip
    table.add_section()
    table.add_row(Text("total", style="bold"), *(format_money(x, cur, places=places) for x in sums), "")
    note = f"Policy: {allocation.policy}. Team totals sum to {format_money(allocation.total, cur)} to the cent."
    parts: list[object] = [table, Text(note, style="dim"), ""]
    if allocation.pools:
        pools = Table(title="Shared pools", title_justify="left", title_style="bold", box=None)
        for name in ("Pool", "Split", "Amount", "Shares"):
            pools.add_column(name, justify="right" if name == "Amount" else "left", overflow="fold")
        for p in allocation.pools:
            shares = ", ".join(f"{team} {format_money(v, cur, places=0)}" for team, v in
                               sorted(p.shares.items(), key=lambda kv: -kv[1]))  # fmt: skip
            pools.add_row(p.name, p.split, format_money(p.amount, cur, places=0), shares)
        parts += [pools, ""]
    return parts


# Least useful first: what gives way, in order, when a table does not fit the terminal (finops.ui.fit).
DROP = {
    "breakdown": ("", "Previous", "Share"),
    "gpu": ("List", "Util", "Inst.", "GPU-h", "GPUs"),
    "gpu_idle": ("Price", "Type", "GPU-h", "Busy", "Team"),
    "inference": ("kWh/1k req", "Failed", "Per 1M tokens", "p95", "Requests"),
    "commitments": ("Type", "Term", "Unused", "Amount"),
    "resources": ("Service", "Team", "Change"),
    "freshness": ("Last loaded", "Data through", "Table"),  # the age says what the date does
    "allocation": ("Share", "Idle GPU", "Shared", "Direct"),
}
WHOLE = {"Day", "Term", "Data through", "Age", "Last loaded", "Period"}  # dates never wrap either


def fit(renderable: object, width: int, drop: tuple[str, ...] = ()) -> object:
    """Make a table readable at `width` (finops.ui.fit): amounts and dates whole, names folded, the columns in
    `drop` left out first, least useful first."""
    if not isinstance(renderable, Table):
        return renderable
    return fit_table(renderable, width, drop=drop, whole=WHOLE)


def print_report(report: Report, console: Console, *, warnings: bool = True) -> None:
    cur = report.currency
    header = Text.assemble(
        ("Cloud spend ", "bold"),
        (report.period.label, "bold cyan"),
        f"  ({report.cost_basis} cost, as of {report.as_of})\n",
        ("Total ", "bold"),
        (format_money(report.total, cur), "bold"),
        "  ",
        _change_text(report.total, report.previous_total),
        f" against {report.previous.label} ({format_money(report.previous_total, cur)})",
    )
    width = console.width
    parts: list[object] = [header, ""]
    parts += [Text(f"warning: {w}", style="yellow") for w in (report.warnings if warnings else ())]
    if report.allocation is not None:  # --by team: the allocation is the answer asked for; the rest is noise
        allocation = _allocation(report, report.allocation)
        parts += [fit(allocation[0], width, DROP["allocation"]), *(fit(p, width) for p in allocation[1:])]
        console.print(Group(*parts))  # type: ignore[arg-type]
        return
    for b in report.breakdowns:
        parts += [fit(_breakdown_table(b, report), width, DROP["breakdown"]), ""]
    parts += [fit(_gpu(report), width, DROP["gpu"]), ""]
    if report.gpu_idle:
        parts += [fit(_gpu_idle(report), width, DROP["gpu_idle"]), ""]
    if report.inference:
        parts += [fit(_inference(report), width, DROP["inference"]), ""]
    if report.commitments:
        parts += [fit(_commitments(report), width, DROP["commitments"]), ""]
    parts += [fit(_resources(report), width, DROP["resources"]), "", fit(_daily(report, width), width), ""]
    parts += [fit(_freshness(report), width, DROP["freshness"])]
    console.print(Group(*parts))  # type: ignore[arg-type]
