"""Pick the renderer for --format and write to stdout or --output."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from finops.report import Report

if TYPE_CHECKING:
    from rich.console import Console


def render_report(report: Report, fmt: str, output: Path | None) -> None:
    if fmt == "table":
        from finops.ui.report_table import print_report

        # Warnings go to stderr (print_warnings); a table written to a file keeps them in its body too.
        emit(output, table=lambda console: print_report(report, console, warnings=output is not None))
        return
    if fmt == "json":
        from finops.output.report_json import render_json

        text = render_json(report)
    elif fmt == "html":
        from finops.output.report_html import render_html

        text = render_html(report)
    elif fmt == "csv":
        from finops.output.tabular import render_csv

        text = render_csv(report)
    else:
        from finops.output.tabular import render_markdown

        text = render_markdown(report)
    emit(output, text=text)


def print_warnings(report: Report) -> None:
    """Each warning on stderr, whatever the format: what the figures cannot say by themselves."""
    from rich.markup import escape

    from finops.ui.console import err_console

    console = err_console()
    for warning in report.warnings:
        console.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)


def emit(output: Path | None, *, text: str = "", table: Callable[[Console], None] | None = None) -> None:
    """Data to stdout, or to --output. A rich table fits the terminal on stdout and is 140 columns wide in a file."""
    if table is not None:
        from finops.ui.console import out_console

        if output is None:
            table(out_console())
            return
        buffer = io.StringIO()
        table(out_console(buffer, width=140))
        text = buffer.getvalue()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
