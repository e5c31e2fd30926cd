"""`finops budget check`: the config, the measures against independent SQL, the forecast, exit codes, formats,
and the CI examples in docs/ci run as written."""

from __future__ import annotations

import json
import shlex
import shutil
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree as ET

import duckdb
import polars as pl
import pytest
import yaml

from finops.budget_config import parse_budgets
from finops.budgets import budget_period
from finops.coerce import coerce
from finops.errors import UsageError
from finops.schema import COSTS
from finops.store import open_store

ROOT = Path(__file__).parents[1]
BUDGETS = """
[budgets.transfer]
amount = 5000
provider = "AWS"
service = ["AWS Data Transfer"]

[budgets.research]
amount = 400000
team = ["research"]

[budgets.chat-unit]
kind = "unit_cost"
endpoint = "chat-llama-70b"
amount = 2.5
warn = 0.9

[budgets.research-gpus]
kind = "gpu_hours"
team = ["research"]
amount = 60000
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "finops.toml"
    path.write_text((ROOT / "sample_data" / "finops.toml").read_text() + BUDGETS)
    return path


def _check(cli, config: Path, db: Path, *args: str):
    return cli("--config", config, "budget", "check", "--db", db, "--as-of", "2026-11-22", *args)


def test_spend_matches_the_bill_and_exit_codes_follow_the_breach(cli, config: Path, demo_db: Path) -> None:
    result = _check(cli, config, demo_db, "--format", "json")
    assert result.code == 1  # the transfer budget is breached on actual spend
    doc = {b["name"]: b for b in json.loads(result.out)["budgets"]}
    with duckdb.connect(str(demo_db), read_only=True) as con:
        transfer = con.execute(
            """SELECT sum("EffectiveCost") FROM costs WHERE "ProviderName" = 'AWS'
               AND "ServiceName" = 'AWS Data Transfer' AND "ChargePeriodStart" >= TIMESTAMPTZ '2026-11-01'"""
        ).fetchone()[0]
    assert Decimal(doc["transfer"]["actual"]) == transfer
    assert doc["transfer"]["status"] == "fail" and doc["transfer"]["breach"] == "actual"
    assert Decimal(doc["transfer"]["forecast"]) >= transfer
    assert doc["research"]["status"] == "ok" and Decimal(doc["research"]["actual"]) > 0
    assert doc["chat-unit"]["status"] == "ok"
    assert Decimal(doc["chat-unit"]["actual"]) == Decimal("2.0749")  # the report's cost per 1k for November
    assert doc["research-gpus"]["status"] == "ok"
    # research's GPU-hours: every research-labelled GPU-hour of telemetry in November
    with duckdb.connect(str(demo_db), read_only=True) as con:
        hours = con.execute(
            """SELECT sum(interval_s) / 3600 FROM gpu_samples WHERE labels['team'] = 'research'
               AND ts >= TIMESTAMPTZ '2026-11-01' AND ts < TIMESTAMPTZ '2026-11-21'"""
        ).fetchone()[0]
    assert Decimal(doc["research-gpus"]["actual"]) == Decimal(str(round(hours, 3)))


def test_forecast_breach_fails_only_when_asked(cli, config: Path, demo_db: Path) -> None:
    text = config.read_text().replace("amount = 5000\n", "amount = 9000\n")  # actual 6,190 under, forecast 9,234 over
    config.write_text(text.replace("[budgets.research]\namount = 400000", "[budgets.research]\namount = 900000"))
    assert _check(cli, config, demo_db).code == 0
    gate = _check(cli, config, demo_db, "--fail-on", "forecast")
    assert gate.code == 1 and "transfer: forecast" in gate.out


def test_stale_data_cannot_pass(cli, config: Path, demo_db: Path) -> None:
    config.write_text(config.read_text().replace("amount = 5000\n", "amount = 500000\n"))
    result = cli("--config", config, "budget", "check", "--db", demo_db, "--as-of", "2026-12-10", "-f", "json")
    assert result.code == 4
    transfer = next(b for b in json.loads(result.out)["budgets"] if b["name"] == "transfer")
    assert transfer["status"] == "stale" and "demo:aws" in " ".join(transfer["stale_sources"])


def test_the_forecast_is_weekday_seasonal_and_skips_open_days(db: Path) -> None:
    """Four weeks of history at 100 on weekdays and 40 at weekends; the period's two newest days are still
    open (half billed). The forecast takes the closed days as billed and the same-weekday mean for the rest."""
    days = [date(2026, 10, 1) + timedelta(days=n) for n in range(45)]  # to Nov 14
    cost = {d: Decimal(100 if d.weekday() < 5 else 40) for d in days}
    for open_day in days[-2:]:
        cost[open_day] /= 2
    frame = pl.DataFrame({
        "ChargePeriodStart": [datetime(d.year, d.month, d.day, tzinfo=UTC) for d in days],
        "ChargePeriodEnd": [datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(days=1) for d in days],
        "BillingPeriodStart": [datetime(d.year, d.month, 1, tzinfo=UTC) for d in days],
        "BillingPeriodEnd": [datetime(2026, 12, 1, tzinfo=UTC)] * len(days),
        "BilledCost": [str(cost[d]) for d in days], "EffectiveCost": [str(cost[d]) for d in days],
        "ProviderName": ["AWS"] * len(days), "ChargeCategory": ["Usage"] * len(days),
    })  # fmt: skip
    with open_store(db) as store:
        store.replace_slices(COSTS, [coerce(frame, COSTS, file="t").with_columns(x_Source=pl.lit("t"))],
                             checksum="t", inputs=["t"])  # fmt: skip
    from finops.allocation_policy import AllocationPolicy
    from finops.budgets import check_budgets

    settings = parse_budgets({"all": {"amount": 2000}}, "finops.toml")
    with open_store(db, read_only=True) as store:
        (result,) = check_budgets(store, settings, AllocationPolicy(), date(2026, 11, 14)).results
    november = [date(2026, 11, 1) + timedelta(days=n) for n in range(30)]
    closed = [d for d in november if d <= date(2026, 11, 12)]
    expected = sum(cost[d] for d in closed) + sum(
        Decimal(100 if d.weekday() < 5 else 40) for d in november if d > date(2026, 11, 12)
    )
    assert result.actual == sum(cost[d] for d in november if d in cost)
    assert result.forecast == expected
    # 2,560 forecast against 2,000: a warning unless the check fails on the forecast
    assert result.status == "warn" and result.breach == "forecast"
    with open_store(db, read_only=True) as store:
        (gated,) = check_budgets(store, settings, AllocationPolicy(), date(2026, 11, 14), fail_on="forecast").results
    assert gated.status == "fail" and gated.breach == "forecast" and gated.forecast == expected


def test_formats_for_ci(cli, config: Path, demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    junit = _check(cli, config, demo_db, "--format", "junit")
    suite = ET.fromstring(junit.out.split("?>", 1)[1])
    assert suite.get("tests") == "4" and suite.get("failures") == "1"
    assert [c.get("name") for c in suite.iter("testcase")] == ["transfer", "research", "chat-unit", "research-gpus"]
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    github = _check(cli, config, demo_db, "--format", "github")
    assert github.out.startswith("::error title=budget transfer%3A fail::transfer: actual $6,190.06 reached")
    assert "### ❌ fail transfer" in summary.read_text() and "| Forecast |" in summary.read_text()
    table = _check(cli, config, demo_db)
    assert "transfer" in table.out and "fail: actual" in table.out


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"x": {"amount": 1, "team": "a", "colour": "red"}}, "unknown key budgets.x.colour"),
        ({"x": {"team": "a"}}, "budgets.x.amount is missing"),
        ({"x": {"amount": 1, "kind": "tokens"}}, "budgets.x.kind = 'tokens' is unknown"),
        ({"x": {"amount": 1, "kind": "idle_share"}}, "team is required"),
        ({"x": {"amount": 1, "kind": "unit_cost"}}, "endpoint is required"),
        ({"x": {"amount": 100, "warn": 1.2}}, "0 < warn <= fail"),
        ({"x": {"amount": 100, "period": "fortnight"}}, "period = 'fortnight' is unknown"),
        ({"x": 5}, "budgets.x must be a table"),
        # a scope the budget's measure never reads would be ignored in silence
        ({"x": {"amount": 1, "kind": "unit_cost", "endpoint": "e", "team": "a"}}, "team does not apply to a unit"),
        ({"x": {"amount": 1, "kind": "gpu_hours", "team": "a", "service": "s"}}, "service does not apply to a gpu"),
        ({"x": {"amount": 1, "kind": "idle_share", "team": "a", "tags": {"k": "v"}}}, "tags does not apply"),
        ({"x": {"amount": 1, "endpoint": "e"}}, "endpoint does not apply to a spend budget"),
    ],
)
def test_bad_budgets_name_the_key(raw: dict, message: str) -> None:
    with pytest.raises(UsageError) as error:
        parse_budgets(raw, "finops.toml")
    assert error.value.message.startswith("finops.toml: ") and message in error.value.message


def test_budget_periods() -> None:
    assert budget_period("month", date(2026, 2, 10)) == (date(2026, 2, 1), date(2026, 3, 1))
    assert budget_period("quarter", date(2026, 11, 22)) == (date(2026, 10, 1), date(2027, 1, 1))
    assert budget_period("2026-11-01..2026-11-15", date(2026, 11, 22)) == (date(2026, 11, 1), date(2026, 11, 16))


def _doc_commands() -> list[list[str]]:
    commands = []
    for name in ("github-actions.yml", "gitlab-ci.yml"):
        document = yaml.safe_load((ROOT / "docs" / "ci" / name).read_text())
        text = json.dumps(document)
        for line in (ROOT / "docs" / "ci" / name).read_text().splitlines():
            line = line.strip().removeprefix("- ").removeprefix("run: ").strip()
            if line.startswith("finops budget"):
                commands.append(shlex.split(line.split("||")[0]))
        assert "finops budget check" in text
    return commands


def test_the_ci_examples_run_as_written(cli, config: Path, demo_db: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    commands = _doc_commands()
    assert len(commands) == 4
    store = tmp_path / "ci.duckdb"
    shutil.copy(demo_db, store)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FINOPS_CONFIG", str(config))
    monkeypatch.setenv("FINOPS_DB", str(store))
    monkeypatch.setenv("FINOPS_AS_OF", "2026-11-22")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    for command in commands:
        result = cli(*command[1:])
        assert result.code == 1, (command, result.err)  # the transfer budget is over: the gate closes
    assert (tmp_path / "budgets.xml").exists() and (tmp_path / "budget-comment.md").exists()
    assert "transfer" in (tmp_path / "budgets.md").read_text()
