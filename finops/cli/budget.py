"""`finops budget check`: budgets for CI steps and cron jobs, with exit codes a machine can act on."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from finops.cli.base import DbOption, _State, app, read_only_db

budget_app = typer.Typer(help="Budgets: spend, unit cost, idle GPU share and GPU quotas.", no_args_is_help=True)
app.add_typer(budget_app, name="budget")


class BudgetFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    junit = "junit"
    github = "github"


class FailOn(StrEnum):
    actual = "actual"
    forecast = "forecast"


@budget_app.command("check")
def budget_check(
    db: DbOption = None,
    output_format: Annotated[
        BudgetFormat,
        typer.Option(
            "--format",
            "-f",
            help="table, json, markdown (a PR comment), junit, or github "
            "(annotations; the markdown goes to $GITHUB_STEP_SUMMARY).",
        ),
    ] = BudgetFormat.table,
    fail_on: Annotated[
        FailOn, typer.Option(help="actual: exit 1 when spend so far breaches; forecast: also when the forecast does.")
    ] = FailOn.actual,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", envvar="FINOPS_AS_OF", help="Judge as of this day (YYYY-MM-DD). Default: today (UTC)."),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Check every [budgets.NAME] in finops.toml: actual and forecast against warn and fail thresholds.

    Exit codes: 0 all within (warnings included), 1 a budget breached (actual, or forecast with --fail-on
    forecast), 4 data too stale to judge (a source's newest data older than budgets.freshness_hours), 2 a
    configuration error.
    """
    from datetime import date

    from finops.budgets import check_budgets
    from finops.config import load_config
    from finops.errors import UsageError
    from finops.output import budget_formats
    from finops.store import open_store

    config = load_config(_State.config)
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError as e:
        raise UsageError(f"--as-of {as_of!r}: {e}", hint="use YYYY-MM-DD") from e
    with open_store(read_only_db(db, what="budget check"), read_only=True) as store:
        check = check_budgets(store, config.budgets, config.allocation, day, config.gpu_hosts)
    fmt = output_format.value
    if fmt == "table":
        from finops.ui.budget_table import print_budgets
        from finops.ui.console import out_console

        if output is None:
            print_budgets(check, out_console())
        else:
            with output.open("w", encoding="utf-8") as handle:
                print_budgets(check, out_console(handle, width=140))
    else:
        renderer = {"json": budget_formats.render_json, "markdown": budget_formats.render_markdown,
                    "junit": budget_formats.render_junit, "github": budget_formats.render_github}[fmt]  # fmt: skip
        text = renderer(check, fail_on.value)
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, encoding="utf-8")
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if fmt == "github" and summary:
            with Path(summary).open("a", encoding="utf-8") as handle:
                handle.write(budget_formats.render_markdown(check, fail_on.value) + "\n")
    raise typer.Exit(check.exit_code(fail_on.value))
