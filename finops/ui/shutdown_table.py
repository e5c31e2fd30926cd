"""`finops shutdown` for people (tables) and machines (the plan file, the log as JSON)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from finops.money import format_money
from finops.output.tabular import short_id
from finops.shutdown_apply import ApplyResult
from finops.shutdown_plan import Plan
from finops.shutdown_policy import ShutdownPolicy
from finops.ui.fit import fit_table

STYLE = {"stop": "bold red", "stopped": "bold red", "marked": "yellow", "waiting": "yellow", "unmark": "cyan",
         "unmarked": "cyan", "skip": "dim", "skipped": "dim", "failed": "bold magenta"}  # fmt: skip


def print_plan(plan: Plan, policy: ShutdownPolicy) -> None:
    console = Console()
    state = "enabled" if policy.enabled else "disabled: apply will refuse"
    table = Table(title=f"Shutdown plan at {plan.now:%Y-%m-%d %H:%M} UTC (shutdown {state})", title_justify="left",
                  title_style="bold")  # fmt: skip
    for name in ("Action", "Instance", "Type", "GPUs", "Idle since", "Per hour", "Per month", "Why"):
        table.add_column(name, justify="right" if name in ("GPUs", "Per hour", "Per month") else "left",
                         overflow="fold")  # fmt: skip
    for i in plan.items:
        table.add_row(f"[{STYLE[i.action]}]{i.action}[/]", escape(short_id(i.instance)), escape(i.instance_type or "-"),
                      str(i.gpus or "-"), f"{i.idle_since:%m-%d %H:%M}" if i.idle_since else "-",
                      format_money(i.per_hour) if i.per_hour is not None else "-",
                      format_money(i.per_month, places=0) if i.per_month is not None else "-",
                      escape(i.reason))  # fmt: skip
    console.print(
        fit_table(table, console.width, drop=("Type", "Idle since", "GPUs", "Per month"), whole={"Idle since"})
    )
    saved = sum((i.per_hour or Decimal(0) for i in plan.to_stop), Decimal(0))
    console.print(f"{len(plan.to_stop)} to stop ({format_money(saved)} per hour); {plan.busy} working instance(s) "
                  "not listed.", highlight=False)  # fmt: skip
    for instance in plan.stopped_but_billed:
        console.print(f"[yellow]{escape(short_id(instance))}: stopped but not deallocated, still billed[/]")


def plan_json(plan: Plan) -> str:
    document = {
        "version": 1, "kind": "finops.shutdown-plan", "now": plan.now.isoformat(),
        "items": [{"instance": i.instance, "provider": i.provider, "action": i.action, "reason": i.reason,
                   **i.evidence()} for i in plan.items],
        "stopped_but_billed": list(plan.stopped_but_billed),
    }  # fmt: skip
    return json.dumps(document, indent=2) + "\n"


def print_decisions(result: ApplyResult) -> None:
    console = Console()
    table = Table(title=f"Shutdown run {result.run_id}", title_justify="left", title_style="bold")
    for name in ("Decision", "Instance", "Per hour", "Why"):
        table.add_column(name, justify="right" if name == "Per hour" else "left", overflow="fold")
    for d in result.decisions:
        table.add_row(f"[{STYLE[d.action]}]{d.action}[/]", escape(short_id(d.instance)),
                      format_money(d.per_hour) if d.per_hour is not None else "-", escape(d.reason))  # fmt: skip
    console.print(fit_table(table, console.width))


def print_log(rows: list[tuple[Any, ...]]) -> None:
    console = Console()
    table = Table(title="Shutdown audit log (newest first)", title_justify="left", title_style="bold")
    for name in ("When", "Run", "Who", "Instance", "Decision", "Why"):
        table.add_column(name, overflow="fold")
    for at, run_id, actor, instance, _provider, action, reason, _per_hour, _evidence in rows:
        table.add_row(f"{at:%Y-%m-%d %H:%M}", run_id, escape(actor), escape(short_id(instance)),
                      f"[{STYLE.get(action, '')}]{action}[/]", escape(reason))  # fmt: skip
    console.print(fit_table(table, console.width, drop=("Run", "Who"), whole={"When"}))


def log_json(rows: list[tuple[Any, ...]]) -> str:
    keys = ("at", "run_id", "actor", "instance", "provider", "action", "reason", "per_hour", "evidence")
    records = []
    for row in rows:
        record = dict(zip(keys, row, strict=True))
        record["evidence"] = (
            json.loads(record["evidence"]) if isinstance(record["evidence"], str) else record["evidence"]
        )
        records.append(record)
    return json.dumps({"version": 1, "kind": "finops.shutdown-log", "decisions": records}, indent=2, default=str) + "\n"
