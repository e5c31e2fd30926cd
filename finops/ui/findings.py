"""Rules and findings for people (tables) and for machines (JSON)."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from finops.findings import FindingsResult
from finops.money import exact_text, format_money
from finops.rules_engine import Rule
from finops.ui.fit import fit_table

SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def print_rules(rules: list[Rule], *, docs: bool) -> None:
    console = Console(soft_wrap=True)
    if docs:
        for rule in rules:
            console.print(f"[bold]{rule.id}[/] {rule.name} ({rule.severity}): {escape(rule.summary)}")
            console.print(escape(rule.description))
            for p in rule.params:
                console.print(f"  [cyan]{p.name}[/] ({p.kind}, default {p.default!r}): {escape(p.help)}")
            tiers = (f"two tiers (heavy: {', '.join(q.name for q in rule.heavy)}): runs on duckdb or spark"
                     if rule.heavy else "one query: runs on duckdb only")  # fmt: skip
            console.print(f"  [dim]{tiers}; from {escape(rule.origin)}[/]\n")
        return
    table = Table(box=None)
    for name in ("Id", "Name", "Severity", "What it finds", "Parameters"):
        table.add_column(name)
    for rule in rules:
        params = ", ".join(f"{p.name}={p.default!r}" for p in rule.params)
        table.add_row(rule.id, rule.name, rule.severity, rule.summary, params)
    console.print(table)


def render_findings(result: FindingsResult, fmt: str) -> None:
    if fmt == "json":
        document = {
            "version": 1,
            "kind": "finops.findings",
            "period": {"start": result.period.start.isoformat(), "end": result.period.end.isoformat()},
            "findings": [
                {
                    "fingerprint": f.fingerprint,
                    "rule_id": f.rule_id,
                    "severity": f.severity,
                    "subject": f.subject,
                    "amount": None if f.amount is None else exact_text(f.amount),
                    "currency": f.currency,
                    "message": f.message,
                    "evidence": f.evidence,
                    "new": f.new,
                }
                for f in result.findings
            ],
        }
        sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
        return
    console = Console()
    if not result.findings:
        console.print(f"No findings for {result.period.label}.")
        return
    table = Table(title=f"Findings, {result.period.label}", title_justify="left", title_style="bold")
    for name in ("", "Rule", "Severity", "Subject", "Amount", "What"):
        table.add_column(name, justify="right" if name == "Amount" else "left", overflow="fold")
    for f in result.findings:
        amount = format_money(f.amount, f.currency or "USD") if f.amount is not None else "-"
        table.add_row("[bold]new[/]" if f.new else "", f.rule_id,
                      f"[{SEVERITY_STYLE[f.severity]}]{f.severity}[/]", escape(f.subject.rsplit("/", 1)[-1]),
                      amount, escape(f.message))  # fmt: skip
    console.print(fit_table(table, console.width, drop=("Severity", "Rule")))
