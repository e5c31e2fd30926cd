"""`finops gpu report` in a terminal: every GPU and MIG instance, what state it spent its hours in, and what the
idle ones cost."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from finops.gpu_report import GpuReport
from finops.money import format_money
from finops.output.gpu_report_formats import device_label, idle_cost_text
from finops.output.tabular import short_id

VERDICT_STYLE = {"idle_empty": "bold red", "idle_reserved": "red", "underutilized": "yellow", "active": "green",
                 "unknown": "magenta"}  # fmt: skip


def print_gpu_report(report: GpuReport, console: Console) -> None:
    cur, total = report.currency, report.total
    headline = Text(f"GPUs, {report.period.label}: ", style="bold")
    headline.append(f"{total.idle_gpu_hours:,.1f} idle of {total.gpu_hours:,.1f} GPU-hours", style="bold red")
    headline.append(f", idle cost {format_money(total.idle_cost, cur)} where priced")
    if total.unpriced_idle_gpu_hours:
        headline.append(f" ({total.unpriced_idle_gpu_hours:,.1f} idle GPU-hours unpriced: no bill, catalog or list "
                        "price for their instance type)", style="dim")  # fmt: skip
    console.print(headline)
    if report.groups:
        groups = Table(title=f"By {report.group_by}", title_justify="left", title_style="bold")
        label = (report.group_by or "").replace("_", " ").capitalize()
        for name in (label, "Devices", "GPU-h", "Idle GPU-h", "kWh", "Idle cost"):
            groups.add_column(name, justify="left" if name == label else "right", no_wrap=name != label,
                              overflow="fold")  # fmt: skip
        for g in report.groups:
            groups.add_row(g.key, str(g.devices), f"{g.gpu_hours:,.1f}", f"{g.idle_gpu_hours:,.1f}",
                           f"{g.energy_kwh:,.1f}", format_money(g.idle_cost, cur))  # fmt: skip
        console.print(groups)
    table = Table(title="Per GPU and MIG instance", title_justify="left", title_style="bold")
    table.caption = (
        "Verdict: the state of most of its time. Signal: sm_active > gr_engine_active > process_sm > util_gpu "
        "(weaker: a one-thread kernel reads 100 %) > no_process. Unknown is never idle."
    )
    # Under 110 columns the secondary columns give way (busy share, kWh) and the verdict and its signal share one
    # cell; under 72 the GPU goes under its instance. Numbers never wrap: a broken number reads as another number.
    wide, narrow = console.width >= 110, console.width < 72
    columns = [("Instance", "left")] + ([] if narrow else [("GPU", "left")]) + [("Verdict", "left")]
    columns += [("Signal", "left"), ("Busy", "right")] if wide else []
    columns += [("GPU-h", "right"), ("Idle h" if narrow else "Idle GPU-h", "right")]
    columns += [("kWh", "right")] if wide else []
    for name, justify in [*columns, ("Idle cost", "right")]:
        table.add_column(name, justify=justify, no_wrap=justify == "right", overflow="fold")  # type: ignore[arg-type]
    for d in report.devices:
        verdict = Text(d.verdict, style=VERDICT_STYLE[d.verdict])
        signals = ", ".join(d.signals) or "-"
        if not wide:
            verdict.append(f"\n{signals}", style="dim")
        cells: list[str | Text] = [short_id(d.instance) + (f"\n{device_label(d)}" if narrow else "")]
        cells += ([] if narrow else [device_label(d)]) + [verdict]
        cells += [signals, "-" if d.busy_share is None else f"{d.busy_share:.0%}"] if wide else []
        cells += [f"{d.gpu_hours:,.1f}", f"{d.idle_gpu_hours:,.1f}"]
        cells += ["-" if d.energy_kwh is None else f"{d.energy_kwh:,.1f}"] if wide else []
        cost = idle_cost_text(d.idle_cost, d.price_basis, cur)
        table.add_row(*cells, cost if wide else cost.replace(" (", "\n("))  # the basis under the amount
    console.print(table)
