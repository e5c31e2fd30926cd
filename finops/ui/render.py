"""Pick the renderer for --format and write to stdout or --output."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from finops.report import Report


def render_report(report: Report, fmt: str, output: Path | None) -> None:
    if fmt == "table":
        from finops.ui.console import out_console
        from finops.ui.report_table import print_report

        if output is None:
            print_report(report, out_console())
            return
        buffer = io.StringIO()
        print_report(report, out_console(buffer, width=140))
        text = buffer.getvalue()
    elif fmt == "json":
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
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
