"""`finops export focus`: the store's costs as FOCUS 1.2 or 1.3 files for other tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from finops.cli.base import DbOption, app, read_only_db

export_app = typer.Typer(help="Hand clean data to other tools.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("focus")
def export_focus(
    output: Annotated[Path, typer.Option("--output", "-o", help="A new or empty folder to write into.")],
    db: DbOption = None,
    output_format: Annotated[str, typer.Option("--format", "-f", help="parquet (default) or csv.")] = "parquet",
    version: Annotated[
        str, typer.Option("--version", help="FOCUS version of the files: 1.2 (default) or 1.3 (adds its columns).")
    ] = "1.2",
) -> None:
    """Write the costs table as FOCUS 1.2 or 1.3, one folder per billing period (billing_period=YYYY-MM/), with the
    x_ columns kept. Tags are JSON objects, times UTC ISO 8601, money exact. Checked in CI with the FinOps
    Foundation's focus-validator."""
    from finops.focus_export import export_focus as run
    from finops.ui.console import err_console

    result = run(read_only_db(db, what="export"), output, output_format, version)
    err_console().print(f"{result.rows:,} rows into {len(result.files)} file(s) under {result.folder}", highlight=False)
