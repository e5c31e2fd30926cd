"""`finops budget check`: budgets for CI steps and cron jobs, with exit codes a machine can act on."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from finops.cli.base import DbOption, _location, _State, app

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


def _gate_db(db: Path | None) -> Path:
    """The store a budget check judges. Unlike the other read-only commands it never falls back to the demo: a CI
    gate run before any sync would otherwise pass or fail on fictional data."""
    from finops.errors import StaleDataError

    location = _location(db)
    if not location.explicit and not location.path.exists():  # one named but missing is a config error (exit 2)
        raise StaleDataError(
            f"no finops database at {location.path}: nothing to judge the budgets on",
            hint="run `finops sync` (or `finops ingest PATH`) first, or point --db / $FINOPS_DB at the store",
        )
    return location.path


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
    forecast), 4 a budget that cannot be judged (a source's newest data older than budgets.freshness_hours, or no
    data in its scope in its period), 2 a configuration error (including a scope naming a team, service,
    account, endpoint or tag the store does not hold).
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
    with open_store(_gate_db(db), read_only=True) as store:
        check = check_budgets(store, config.budgets, config.allocation, day, config.gpu_hosts, fail_on.value)
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
        text = renderer(check)
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, encoding="utf-8")
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if fmt == "github" and summary:
            with Path(summary).open("a", encoding="utf-8") as handle:
                handle.write(budget_formats.render_markdown(check) + "\n")
    raise typer.Exit(check.exit_code)
