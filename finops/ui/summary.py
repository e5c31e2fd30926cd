"""What a load did, per source and slice, on stderr."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from rich.table import Table

from finops.store import LoadResult
from finops.ui.console import err_console


def _amount(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def print_load_result(result: LoadResult, db: Path) -> None:
    console = err_console()
    if result.unchanged:
        console.print(f"unchanged: these files are already loaded in {db}; nothing written (use --force to reload)")
        return
    table = Table(title=f"Loaded into {db} (load {result.load_id})", title_justify="left")
    for name in ("Source", "Billing period", "Rows", "Was", "Billed", "Effective", "Effective before"):
        table.add_column(name, justify="left" if name in ("Source", "Billing period") else "right", no_wrap=True)
    for change in result.slices:
        table.add_row(
            change.source,
            change.slice[:10],
            f"{change.rows:,}",
            f"{change.previous_rows:,}",
            _amount(change.billed_total),
            _amount(change.effective_total),
            _amount(change.previous_effective_total),
        )
    console.print(table)
    console.print(f"{result.rows:,} rows in {len(result.slices)} slice(s); each replaced what was there before.")
