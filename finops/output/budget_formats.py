"""`finops budget check` output for machines and reviewers: JSON, Markdown (a pull-request comment), JUnit XML
(one test case per budget) and GitHub Actions (workflow annotations, plus the Markdown as the step summary).

Every format renders the check's own verdict (BudgetCheck: each budget's status, the counts, the exit code) and
decides nothing itself, so no two formats can disagree on one run: a failed budget is a failure in JUnit and an
error annotation; one that cannot be judged (stale, no data) is a JUnit error and an error annotation too, since
it fails the step (exit 4); a warning is a passing test case and a warning annotation."""

from __future__ import annotations

import json
from decimal import Decimal
from xml.etree import ElementTree as ET

from finops.budgets import BudgetCheck, BudgetResult
from finops.money import exact_text, format_money

ICON = {"ok": "✅ ok", "warn": "⚠️ warn", "fail": "❌ fail", "stale": "⏳ stale", "no_data": "❔ no data"}
LABEL = {"ok": "ok", "warn": "warn", "fail": "fail", "stale": "stale", "no_data": "no data"}
NO_DATA = {
    "spend": "no cost in its scope",
    "unit_cost": "no successful requests of its endpoint",
    "idle_share": "no GPU telemetry on its team's instances",
    "gpu_hours": "no GPU-hours of its team",
}


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
    if result.breach and result.status in ("fail", "warn"):
        measured = result.actual if result.breach == "actual" else result.forecast
        line = (f"{b.name}: {result.breach} {value_text(result, measured)} reached the fail threshold "
                f"{value_text(result, b.amount * b.fail)}")  # fmt: skip
        return line if result.status == "fail" else line + " (fails the check with --fail-on forecast)"
    if result.status == "stale":
        return f"{b.name}: data too stale to judge: {'; '.join(result.stale_sources)}"
    if result.status == "no_data":
        last = result.end.fromordinal(result.end.toordinal() - 1)
        return f"{b.name}: no data to judge: {NO_DATA[b.kind]} from {result.start} to {last}"
    if result.status == "warn":
        return f"{b.name}: actual or forecast reached the warn threshold {value_text(result, b.amount * b.warn)}"
    return f"{b.name}: within {value_text(result, b.amount)}"


def render_json(check: BudgetCheck) -> str:
    def number(value: Decimal | None) -> str | None:
        return None if value is None else exact_text(value)

    document = {
        "version": 1, "kind": "finops.budgets", "as_of": check.as_of.isoformat(),
        "data_through": check.data_through.isoformat() if check.data_through else None,
        "fail_on": check.fail_on, "exit_code": check.exit_code, "summary": check.counts(),
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


def render_markdown(check: BudgetCheck) -> str:
    out = [f"## finops budget check, as of {check.as_of}", "",
           f"{check.summary()}. Data through {check.data_through or '-'}; fails on {check.fail_on}; "
           f"exit code {check.exit_code}.", ""]  # fmt: skip
    for r in check.results:
        b = r.budget
        out += [f"### {ICON[r.status]} {b.name}", "", f"{b.kind}, {b.describe_scope()}, {r.start} to "
                f"{r.end.fromordinal(r.end.toordinal() - 1)}", "",
                "| | Value | Share of limit |", "|---|---:|---:|"]  # fmt: skip
        for label, value in (("Actual", r.actual), ("Forecast", r.forecast), ("Limit", r.limit)):
            share = f"{value / b.amount:.0%}" if value is not None else "-"
            out.append(f"| {label} | {value_text(r, value)} | {share} |")
        out += ["", f"Status: **{LABEL[r.status]}**. {status_line(r)}", ""]
    return "\n".join(out)


def render_junit(check: BudgetCheck) -> str:
    counts = check.counts()
    suite = ET.Element("testsuite", name="finops budgets", tests=str(len(check.results)),
                       failures=str(counts["fail"]), errors=str(counts["stale"] + counts["no_data"]))  # fmt: skip
    for r in check.results:
        case = ET.SubElement(suite, "testcase", classname=f"finops.budget.{r.budget.kind}", name=r.budget.name)
        if r.status == "fail":
            ET.SubElement(case, "failure", message=status_line(r), type=r.breach or "fail").text = status_line(r)
        elif r.blocks:
            ET.SubElement(case, "error", message=status_line(r), type=r.status).text = status_line(r)
        ET.SubElement(case, "system-out").text = (
            f"actual {value_text(r, r.actual)}; forecast {value_text(r, r.forecast)}; "
            f"limit {value_text(r, r.limit)}; status {LABEL[r.status]}"
        )
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def render_github(check: BudgetCheck) -> str:
    """Workflow commands: one annotation per budget that is not ok (error when it fails the step), then a notice
    with the counts and the exit code."""
    lines = []
    for r in check.results:
        if r.status == "ok":
            continue
        level = "error" if r.blocks else "warning"
        title = f"budget {r.budget.name}: {LABEL[r.status]}"
        lines.append(f"::{level} title={_property(title)}::{_data(status_line(r))}")
    summary = f"{check.summary()}; exit code {check.exit_code}"
    lines.append(f"::notice title=finops budget check::{_data(summary)}")
    return "\n".join(lines) + "\n"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(",", "%2C").replace(":", "%3A")
