"""`finops budget check` in a terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from finops.budgets import BudgetCheck, BudgetResult
from finops.output.budget_formats import LABEL, status_line, value_text
from finops.ui.fit import fit_table

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "stale": "magenta", "no_data": "magenta"}


def _period(r: BudgetResult) -> str:
    last = r.end.fromordinal(r.end.toordinal() - 1)
    return f"{r.start:%b %d}-{last:%d}" if (r.start.year, r.start.month) == (last.year, last.month) else (
        f"{r.start:%b %d}-{last:%b %d}")  # fmt: skip


def print_budgets(check: BudgetCheck, console: Console) -> None:
    table = Table(title=f"Budgets as of {check.as_of} (data through {check.data_through or '-'})",
                  title_justify="left", title_style="bold")  # fmt: skip
    table.add_column("Budget", overflow="fold", min_width=14)
    table.add_column("Period", overflow="fold")
    for name in ("Actual", "Forecast", "Limit"):  # amounts never wrap: a broken number reads as another number
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("Status", overflow="fold")
    for r in check.results:
        label = Text(r.budget.name, style="bold")
        label.append(f"\n{r.budget.describe_scope()}", style="dim")
        table.add_row(label, _period(r), value_text(r, r.actual, whole=True), value_text(r, r.forecast, whole=True),
                      value_text(r, r.limit, whole=True),
                      Text(LABEL[r.status] + (f": {r.breach}" if r.breach else ""), style=STYLE[r.status]))  # fmt: skip
    console.print(fit_table(table, console.width, drop=("Period", "Forecast"), whole={"Period"}))
    for r in check.results:
        if r.status != "ok":
            console.print(Text(status_line(r), style=STYLE[r.status]))
    console.print(Text(f"{check.summary()}; exit code {check.exit_code}", style="bold"))
