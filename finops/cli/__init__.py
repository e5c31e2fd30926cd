"""The command line: parse, call one library function, render. No SQL here.

stdout carries data (a report, JSON); stderr carries what is for people (banners, progress, errors).
Heavy modules (duckdb, polars, cloud SDKs) are imported inside commands so `finops --help` stays fast.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any, NoReturn

import typer

from finops.cli import billing, budget, export, gpu, rules, shutdown, usage  # noqa: F401 - importing them registers their commands
from finops.cli.base import _State, app
from finops.cli.help import plain_metavars
from finops.errors import ExitCode, FinopsError

__all__ = ["app", "main", "run"]


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code: the one error boundary mapping exceptions to documented codes."""
    args = hoist_global_options(sys.argv[1:] if argv is None else list(argv))
    try:
        # Without standalone mode, an Exit raised by a command comes back as the return value.
        returned = plain_metavars(typer.main.get_command(app))(args=args, standalone_mode=False)
    except FinopsError as e:
        if _State.debug:
            traceback.print_exc()  # the traceback asked for, and still the documented exit code
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
            traceback.print_exc()
        _print_error(f"internal error: {type(e).__name__}: {e}", "run again with --debug for a traceback")
        return int(ExitCode.SOURCE)
    return returned if isinstance(returned, int) else int(ExitCode.OK)


def hoist_global_options(args: list[str]) -> list[str]:
    """Move the global options (-v, -q, --debug, --config, --db, --memory-limit) found after a command's name to
    the front, where the parser reads them, so `finops report -v` means `finops -v report`. The command's own
    options win: a name it defines itself (`--db`, `export focus --version`), and the value of one of its options,
    stay where they are; nothing after `--` moves."""
    root: Any = typer.main.get_command(app)  # typer's own copy of click: duck-typed below
    taking_value: set[str] = set()
    flags: set[str] = set()
    for param in root.params:
        if param.param_type_name == "option" and param.name != "version":
            (flags if param.is_flag or param.count else taking_value).update(param.opts)
    front: list[str] = []
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":  # options already before the command
        front.append(args[i])
        if args[i] in taking_value and i + 1 < len(args):
            front.append(args[i + 1])
            i += 1
        i += 1
    command = root
    rest: list[str] = []
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if hasattr(command, "list_commands") and not arg.startswith("-"):
            sub = command.get_command(typer.Context(command), arg)
            if sub is not None:
                command = sub
                rest.append(arg)
                i += 1
                continue
        own = {o: p for p in command.params if p.param_type_name == "option" for o in (*p.opts, *p.secondary_opts)}
        name = arg.split("=", 1)[0]
        if name in own:
            rest.append(arg)
            option = own[name]
            if "=" not in arg and not (option.is_flag or option.count) and i + 1 < len(args):
                rest.append(args[i + 1])
                i += 1
        elif name in flags or _repeated_short(arg, flags):
            front.append(arg)
        elif name in taking_value:
            front.append(arg)
            if "=" not in arg and i + 1 < len(args):
                front.append(args[i + 1])
                i += 1
        else:
            rest.append(arg)
        i += 1
    return [*front, *rest]


def _repeated_short(arg: str, flags: set[str]) -> bool:
    """-vv, -vvv: a short counting flag repeated."""
    return len(arg) > 2 and arg[0] == "-" and arg[1] != "-" and len(set(arg[1:])) == 1 and f"-{arg[1]}" in flags


def main() -> NoReturn:
    sys.exit(run())


def _print_error(message: str, hint: str | None) -> None:
    from rich.markup import escape

    from finops.ui.console import error_console

    console = error_console()
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        console.print(f"[dim]hint:[/] {escape(hint)}", highlight=False, soft_wrap=True)
