"""One budget check, one verdict: markdown, JUnit, GitHub annotations, JSON and the terminal table say the same
status for every budget, the same counts and the same exit code (they once said 2 failed, 1 failure and a
warning for one run)."""

from __future__ import annotations

import io
import json
import re
from datetime import date
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from rich.console import Console

from finops.budget_config import parse_budgets
from finops.budgets import STATUSES, BudgetCheck, check_budgets
from finops.demo import demo_policy
from finops.output import budget_formats
from finops.output.budget_formats import ICON, LABEL
from finops.store import open_store
from finops.ui.budget_table import print_budgets

# On the demo, as of 2026-11-22 (sample_data/README.md): AWS Data Transfer in November is $6,190.06 so far with a
# forecast of $9,234; research spent $201,602 with a forecast of $302,268; research's GPU telemetry ends at
# 2026-11-20 23:00, 49 hours before the end of the 22nd, and the bills at 2026-11-21 00:00, 48 hours before it.
BUDGETS = {
    "freshness_hours": 48.5,  # telemetry is stale, the bills are not
    "transfer": {"amount": 5000, "service": "AWS Data Transfer"},  # actual over: fails either way
    "transfer-forecast": {"amount": 9000, "service": "AWS Data Transfer"},  # only the forecast is over
    "research": {"amount": 400000, "team": "research"},  # 76 % by the forecast: ok
    "research-warn": {"amount": 360000, "team": "research"},  # 84 % by the forecast: warn
    "august": {"amount": 1000, "team": "research", "period": "2026-08-01..2026-08-10"},  # before any data
    "research-gpus": {"amount": 60000, "kind": "gpu_hours", "team": "research"},  # telemetry: stale
}
EXPECTED = {
    "actual": {"transfer": "fail", "transfer-forecast": "warn", "research": "ok", "research-warn": "warn",
               "august": "no_data", "research-gpus": "stale"},
    "forecast": {"transfer": "fail", "transfer-forecast": "fail", "research": "ok", "research-warn": "warn",
                 "august": "no_data", "research-gpus": "stale"},
}  # fmt: skip
BY_LABEL = {label: status for status, label in LABEL.items()}


def _check(demo_db: Path, fail_on: str) -> BudgetCheck:
    settings = parse_budgets(BUDGETS, "finops.toml")
    with open_store(demo_db, read_only=True) as store:
        return check_budgets(store, settings, demo_policy(), date(2026, 11, 22), fail_on=fail_on)


def _counts(text: str) -> dict[str, int]:
    """The counts sentence every human-readable format carries (BudgetCheck.summary)."""
    found = re.search(r"(\d+) failed, (\d+) warned, (\d+) stale, (\d+) without data, (\d+) ok\b", text)
    code = re.search(r"exit code (\d)\b", text)
    assert found and code, text
    fail, warn, stale, no_data, ok = (int(n) for n in found.groups())
    return {"fail": fail, "warn": warn, "stale": stale, "no_data": no_data, "ok": ok, "exit": int(code.group(1))}


def _from_json(text: str) -> tuple[dict[str, str], dict[str, int]]:
    doc = json.loads(text)
    return {b["name"]: b["status"] for b in doc["budgets"]}, {**doc["summary"], "exit": doc["exit_code"]}


def _from_markdown(text: str) -> tuple[dict[str, str], dict[str, int]]:
    verdicts = {}
    for line in text.splitlines():
        for status, icon in ICON.items():
            if line.startswith(f"### {icon} "):
                verdicts[line.removeprefix(f"### {icon} ")] = status
    return verdicts, _counts(text)


def _from_junit(text: str) -> tuple[dict[str, str], dict[str, int]]:
    suite = ET.fromstring(text.split("?>", 1)[1])
    verdicts = {}
    for case in suite.iter("testcase"):
        failure, error = case.find("failure"), case.find("error")
        out = case.findtext("system-out") or ""
        if failure is not None:
            verdicts[case.get("name")] = "fail"
        elif error is not None:
            verdicts[case.get("name")] = error.get("type")
        else:  # a passing case: its system-out says whether it warned
            verdicts[case.get("name")] = BY_LABEL[out.rsplit("status ", 1)[1]]
    counts = {"fail": int(suite.get("failures")), "errors": int(suite.get("errors")), "tests": int(suite.get("tests"))}
    return verdicts, counts


def _from_github(text: str, names: list[str]) -> tuple[dict[str, str], dict[str, int], dict[str, str]]:
    verdicts, levels = dict.fromkeys(names, "ok"), {}
    for line in text.splitlines():
        annotation = re.match(r"::(error|warning|notice) title=([^:]*)::(.*)", line)
        assert annotation, line
        level, title, message = annotation.groups()
        title = title.replace("%3A", ":").replace("%2C", ",").replace("%25", "%")
        if level == "notice":
            counts = _counts(message)
            continue
        name, label = title.removeprefix("budget ").rsplit(": ", 1)
        verdicts[name], levels[name] = BY_LABEL[label], level
    return verdicts, counts, levels


def _from_terminal(check: BudgetCheck) -> tuple[dict[str, str], dict[str, int]]:
    buffer = io.StringIO()
    print_budgets(check, Console(file=buffer, width=200, color_system=None))
    text = buffer.getvalue()
    verdicts = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 6 and cells[0] in {r.budget.name for r in check.results}:
            verdicts[cells[0]] = BY_LABEL[cells[5].split(":")[0]]
    return verdicts, _counts(text)


@pytest.mark.parametrize("fail_on", ["actual", "forecast"])
def test_every_format_gives_the_same_verdict(demo_db: Path, fail_on: str) -> None:
    check = _check(demo_db, fail_on)
    expected = EXPECTED[fail_on]
    names = list(expected)
    counts = {s: sum(v == s for v in expected.values()) for s in STATUSES}
    exit_code = 1 if counts["fail"] else 4

    in_json, json_counts = _from_json(budget_formats.render_json(check))
    in_markdown, markdown_counts = _from_markdown(budget_formats.render_markdown(check))
    in_junit, junit_counts = _from_junit(budget_formats.render_junit(check))
    in_github, github_counts, levels = _from_github(budget_formats.render_github(check), names)
    in_terminal, terminal_counts = _from_terminal(check)

    for verdicts in (in_json, in_markdown, in_junit, in_github, in_terminal):
        assert verdicts == expected
    assert json_counts == {**counts, "exit": exit_code}
    assert markdown_counts == github_counts == terminal_counts == {**counts, "exit": exit_code}
    assert junit_counts == {"fail": counts["fail"], "errors": counts["stale"] + counts["no_data"], "tests": 6}
    # a GitHub annotation is an error exactly when the budget makes the step fail (exit 1 or 4)
    assert levels == {
        n: "error" if s in ("fail", "stale", "no_data") else "warning" for n, s in expected.items() if s != "ok"
    }


def test_the_command_exits_as_every_format_says(cli, demo_db: Path, tmp_path: Path) -> None:
    config = tmp_path / "finops.toml"
    lines = ["[budgets]", f"freshness_hours = {BUDGETS['freshness_hours']}"]
    for name, table in BUDGETS.items():
        if isinstance(table, dict):
            lines.append(f'[budgets."{name}"]')
            lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    config.write_text("\n".join(lines) + "\n")
    for fail_on, expected in EXPECTED.items():
        codes = set()
        for fmt in ("table", "json", "markdown", "junit", "github"):
            result = cli("--config", config, "budget", "check", "--db", demo_db, "--as-of", "2026-11-22",
                         "--fail-on", fail_on, "--format", fmt)  # fmt: skip
            codes.add(result.code)
            if fmt == "json":
                assert {b["name"]: b["status"] for b in json.loads(result.out)["budgets"]} == expected
        assert codes == {1}  # a failed budget in both runs: 1 whatever the format
