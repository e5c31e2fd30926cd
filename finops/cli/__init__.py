"""The command line: parse, call one library function, render. No SQL here.

stdout carries data (a report, JSON); stderr carries what is for people (banners, progress, errors).
Heavy modules (duckdb, polars, cloud SDKs) are imported inside commands so `finops --help` stays fast.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from finops.cli import billing, budget, export, gpu, rules, shutdown, usage  # noqa: F401 - importing them registers their commands
from finops.cli.base import _State, app
from finops.cli.help import plain_metavars
from finops.errors import ExitCode, FinopsError

__all__ = ["app", "main", "run"]


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code: the one error boundary mapping exceptions to documented codes."""
    try:
        # Without standalone mode, an Exit raised by a command comes back as the return value.
        returned = plain_metavars(typer.main.get_command(app))(args=argv, standalone_mode=False)
    except FinopsError as e:
        if _State.debug:
            raise
        _print_error(e.message, e.hint)
        return int(e.exit_code)
    except typer.Exit as e:
        return int(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except typer.TyperException as e:  # usage errors from the argument parser
        show = getattr(e, "show", None)
        if show:
            show()
        else:
            print(f"error: {e.message}", file=sys.stderr)
        return int(ExitCode.USAGE)
    except Exception as e:
        if _State.debug:
            raise
        _print_error(f"internal error: {type(e).__name__}: {e}", "run again with --debug for a traceback")
        return int(ExitCode.SOURCE)
    return returned if isinstance(returned, int) else int(ExitCode.OK)


def main() -> NoReturn:
    sys.exit(run())


def _print_error(message: str, hint: str | None) -> None:
    from rich.markup import escape

    from finops.ui.console import error_console

    console = error_console()
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        console.print(f"[dim]hint:[/] {escape(hint)}", highlight=False, soft_wrap=True)
