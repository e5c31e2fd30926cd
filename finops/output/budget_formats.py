"""`finops budget check` output for machines and reviewers: JSON, Markdown (a pull-request comment), JUnit XML
(one test case per budget) and GitHub Actions (workflow annotations, plus the Markdown as the step summary)."""

from __future__ import annotations

import json
from decimal import Decimal
from xml.etree import ElementTree as ET

from finops.budgets import BudgetCheck, BudgetResult
from finops.money import exact_text, format_money

ICON = {"ok": "✅ ok", "warn": "⚠️ warn", "fail": "❌ fail", "stale": "⏳ stale"}


def value_text(result: BudgetResult, value: Decimal | None, *, whole: bool = False) -> str:
    """A measure as a person reads it: money (whole units with `whole`, for terminals), money per 1k requests, a
    share, or GPU-hours."""
    if value is None:
        return "-"
    kind = result.budget.kind
    if kind == "spend":
        return format_money(value, result.budget.currency, places=0 if whole and abs(value) >= 1000 else 2)
    if kind == "unit_cost":
        return format_money(value, result.budget.currency, places=4)
    if kind == "idle_share":
        return f"{value * 100:.1f}%"
    return f"{value:,.0f} h"


def status_line(result: BudgetResult) -> str:
    b = result.budget
    if result.status == "fail":
        measured = result.actual if result.breach == "actual" else result.forecast
        return (f"{b.name}: {result.breach} {value_text(result, measured)} reached the fail threshold "
                f"{value_text(result, b.amount * b.fail)}")  # fmt: skip
    if result.status == "stale":
        return f"{b.name}: data too stale to judge: {'; '.join(result.stale_sources)}"
    if result.status == "warn":
        return f"{b.name}: actual or forecast reached the warn threshold {value_text(result, b.amount * b.warn)}"
    return f"{b.name}: within {value_text(result, b.amount)}"


def render_json(check: BudgetCheck, fail_on: str) -> str:
    def number(value: Decimal | None) -> str | None:
        return None if value is None else exact_text(value)

    document = {
        "version": 1, "kind": "finops.budgets", "as_of": check.as_of.isoformat(),
        "data_through": check.data_through.isoformat() if check.data_through else None,
        "fail_on": fail_on, "exit_code": check.exit_code(fail_on),
        "budgets": [
            {"name": r.budget.name, "kind": r.budget.kind, "scope": r.budget.describe_scope(),
             "period": {"start": r.start.isoformat(), "end": r.end.isoformat()}, "unit": r.unit,
             "limit": number(r.limit), "warn_at": number(r.budget.amount * r.budget.warn),
             "fail_at": number(r.budget.amount * r.budget.fail), "actual": number(r.actual),
             "forecast": number(r.forecast), "status": r.status, "breach": r.breach,
             "stale_sources": list(r.stale_sources), "note": r.note}
            for r in check.results
        ],
    }  # fmt: skip
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_markdown(check: BudgetCheck, fail_on: str) -> str:
    failed = sum(r.status == "fail" for r in check.results)
    out = [f"## finops budget check, as of {check.as_of}", "",
           f"{len(check.results)} budget(s): {failed} failed, "
           f"{sum(r.status == 'warn' for r in check.results)} warned, "
           f"{sum(r.status == 'stale' for r in check.results)} stale. Data through {check.data_through or '-'}; "
           f"fails on {fail_on}.", ""]  # fmt: skip
    for r in check.results:
        b = r.budget
        out += [f"### {ICON[r.status]} {b.name}", "", f"{b.kind}, {b.describe_scope()}, {r.start} to "
                f"{r.end.fromordinal(r.end.toordinal() - 1)}", "",
                "| | Value | Share of limit |", "|---|---:|---:|"]  # fmt: skip
        for label, value in (("Actual", r.actual), ("Forecast", r.forecast), ("Limit", r.limit)):
            share = f"{value / b.amount:.0%}" if value is not None else "-"
            out.append(f"| {label} | {value_text(r, value)} | {share} |")
        out += ["", f"Status: **{r.status}**. {status_line(r)}", ""]
    return "\n".join(out)


def render_junit(check: BudgetCheck, fail_on: str) -> str:
    suite = ET.Element("testsuite", name="finops budgets", tests=str(len(check.results)),
                       failures=str(sum(_fails(r, fail_on) for r in check.results)),
                       errors=str(sum(r.status == "stale" for r in check.results)))  # fmt: skip
    for r in check.results:
        case = ET.SubElement(suite, "testcase", classname=f"finops.budget.{r.budget.kind}", name=r.budget.name)
        if _fails(r, fail_on):
            ET.SubElement(case, "failure", message=status_line(r), type=r.breach or "fail").text = status_line(r)
        elif r.status == "stale":
            ET.SubElement(case, "error", message=status_line(r), type="stale").text = status_line(r)
        ET.SubElement(case, "system-out").text = (
            f"actual {value_text(r, r.actual)}; forecast {value_text(r, r.forecast)}; "
            f"limit {value_text(r, r.limit)}; status {r.status}"
        )
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def render_github(check: BudgetCheck, fail_on: str) -> str:
    """Workflow commands: one annotation per budget that is not ok (error when it fails the step)."""
    lines = []
    for r in check.results:
        if r.status == "ok":
            continue
        level = "error" if _fails(r, fail_on) else "warning"
        message = status_line(r).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        title = f"budget {r.budget.name}".replace(",", "%2C").replace(":", "%3A")
        lines.append(f"::{level} title={title}::{message}")
    return "\n".join(lines) + ("\n" if lines else "")


def _fails(r: BudgetResult, fail_on: str) -> bool:
    return r.breach == "actual" or (r.breach == "forecast" and fail_on == "forecast")
