"""What every command shares: the app, global options, the store option and where the store is."""

from __future__ import annotations

import logging
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from finops import __version__

if TYPE_CHECKING:
    from finops.paths import DbLocation

app = typer.Typer(
    name="finops",
    help="AI FinOps from one command: what GPUs, inference and clouds cost, per team, from the bill.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # one error boundary below; locals may hold credentials
    add_completion=False,
    rich_markup_mode=None,
)

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="DuckDB store to use. Default: $FINOPS_DB, else [store] db in finops.toml, else finops.duckdb in "
        "your user data folder.",
        show_default=False,
    ),
]


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    html = "html"


class FindingsFormat(StrEnum):
    table = "table"
    json = "json"


class _State:
    debug = False
    config: Path | None = None
    db: Path | None = None  # --db given before the command (`finops --db x report`)


def _location(db: Path | None) -> DbLocation:
    from finops.config import load_config
    from finops.paths import resolve_db

    config = load_config(_State.config)
    return resolve_db(db if db is not None else _State.db, config.db, config.path)


def read_only_db(db: Path | None, demo: bool = False, what: str = "report") -> Path:
    """The store a read-only command reads: the one configured, or, when there is none yet (and no --db,
    $FINOPS_DB or [store] db names one), the embedded demo, said on stderr. Commands that write to a cloud or
    send messages (sync, alerts, shutdown apply) never come here: they never run on the demo."""
    from finops.demo import ensure_demo_db
    from finops.ui.console import err_console

    location = _location(db)
    if not demo and (location.explicit or location.path.exists()):
        return location.path
    path = ensure_demo_db()
    err_console().print(
        f"[bold yellow]Demo data[/]: no finops database yet, so this {what} shows the embedded demo "
        f"(Lumen Labs, fictional) from {path}.\n"
        "Load your own with [bold]finops ingest PATH[/] (FOCUS files).",
        highlight=False,
    )
    return path


def _version(value: bool) -> None:
    if value:
        typer.echo(f"finops {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output on stderr.")] = 0,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only errors on stderr: no progress, banners or summaries (cron).")
    ] = False,
    memory_limit: Annotated[
        str | None,
        typer.Option(
            "--memory-limit",
            envvar="FINOPS_MEMORY_LIMIT",
            help="Bound the database engine's memory (e.g. 2GB); past it, work spills to disk.",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="finops.toml to use. Default: $FINOPS_CONFIG, ./finops.toml, user config."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Global options apply to every command, before or after its name (`finops -v report`, `finops report -v`)."""
    _State.debug = debug or os.environ.get("FINOPS_DEBUG") == "1"
    _State.config = config
    _State.db = db
    level_name = os.environ.get("FINOPS_LOG_LEVEL", "")
    from finops.ui.console import Settings

    Settings.quiet = quiet
    if memory_limit:
        os.environ["FINOPS_MEMORY_LIMIT"] = memory_limit  # read where the store is opened
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(
        level=level_name.upper() or level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger().setLevel(level_name.upper() or level)  # basicConfig only acts once per process
