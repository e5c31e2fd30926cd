"""Every built-in rule against its cases in tests/rules/*.yaml (rows in, parameters, findings out), and the
engine's own contract: validation that names rule and key, fingerprints, new versus seen, exit codes."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from finops.coerce import coerce
from finops.errors import UsageError
from finops.gpu_watch import rows_to_frame
from finops.rules_engine import load_rule, load_rules, run_rule
from finops.schema import COSTS, GPU_SAMPLES, USAGE_METRICS
from finops.store import open_store

CASES = Path(__file__).parent / "rules"
COST_DEFAULTS = {"BillingPeriodStart": "2026-11-01T00:00:00Z", "BillingPeriodEnd": "2026-12-01T00:00:00Z",
                 "ChargePeriodStart": "2026-11-01T00:00:00Z", "ChargePeriodEnd": "2026-11-02T00:00:00Z",
                 "ChargeCategory": "Usage", "BillingCurrency": "USD", "ProviderName": "AWS"}  # fmt: skip


def cases() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    found = []
    for path in sorted(CASES.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        for case in document["cases"]:
            found.append((f"{document['rule']}: {case['name']}", document, case))
    return found


def build_store(db: Path, case: dict[str, Any]) -> None:
    with open_store(db) as store:
        if case.get("costs"):
            rows = [{**COST_DEFAULTS, "ChargePeriodEnd": _day_after(row), **row} for row in case["costs"]]
            names = sorted({key for row in rows for key in row})
            columns = {n: [row.get(n) for row in rows] for n in names}
            frame = pl.DataFrame(columns, schema=dict.fromkeys(names, pl.String))
            frame = coerce(frame, COSTS, file="case").with_columns(x_Source=pl.lit("case"))
            store.replace_slices(COSTS, [frame], checksum="case", inputs=["case"])
        if case.get("gpu_samples"):
            rows = [{**row, "ts": _ts(row["ts"]), "x_Day": _ts(row["ts"]).date()} for row in case["gpu_samples"]]
            store.replace_slices(GPU_SAMPLES, [rows_to_frame(GPU_SAMPLES, rows, "case")], checksum="g", inputs=["g"])
        if case.get("usage_metrics"):
            rows = [{**row, "ts": _ts(row["ts"]), "x_Day": _ts(row["ts"]).date()} for row in case["usage_metrics"]]
            frame = rows_to_frame(USAGE_METRICS, rows, "case")
            store.replace_slices(USAGE_METRICS, [frame], checksum="u", inputs=["u"])


def _day_after(row: dict[str, Any]) -> str:
    """A case row's charge period ends a day after it starts, unless it says otherwise (ANO001 skips longer)."""
    start = _ts(row.get("ChargePeriodStart", COST_DEFAULTS["ChargePeriodStart"]))
    return (start + timedelta(days=1)).isoformat()


def _ts(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(("name", "document", "case"), cases(), ids=[c[0] for c in cases()])
def test_rule_case(name: str, document: dict[str, Any], case: dict[str, Any], tmp_path: Path) -> None:
    db = tmp_path / "case.duckdb"
    build_store(db, case)
    rule = next(r for r in load_rules() if r.id == document["rule"])
    start, end = (date.fromisoformat(d) for d in document["period"])
    with open_store(db) as store:
        findings = run_rule(store, rule, start, end, {k: str(v) for k, v in case["params"].items()})
    got = [{"subject": f.subject, "amount": f.amount, "message": f.message} for f in findings]
    expected = case["expect"]
    assert [g["subject"] for g in got] == [e["subject"] for e in expected], name
    for g, e in zip(got, expected, strict=True):
        assert g["amount"] == Decimal(e["amount"])
        if "message" in e:
            assert g["message"] == e["message"]


def test_a_monthly_charge_is_not_a_daily_spike(tmp_path: Path) -> None:
    """ANO001's spike case with the spike's extra 2,000 billed as a charge for a whole month from that day: not one
    day's spend, so no finding (the day's own 1,000 matches its baseline)."""
    document = yaml.safe_load((CASES / "ANO001.yaml").read_text())
    case = document["cases"][0]
    spike = next(row for row in case["costs"] if row["EffectiveCost"] == "3000")
    monthly = {**spike, "ChargePeriodEnd": "2026-12-11T00:00:00Z", "EffectiveCost": "2000", "BilledCost": "2000"}
    daily = {**spike, "EffectiveCost": "1000", "BilledCost": "1000"}
    rows = [row for row in case["costs"] if row is not spike] + [daily, monthly]
    build_store(tmp_path / "case.duckdb", {**case, "costs": rows})
    rule = next(r for r in load_rules() if r.id == "ANO001")
    start, end = (date.fromisoformat(d) for d in document["period"])
    with open_store(tmp_path / "case.duckdb") as store:
        assert run_rule(store, rule, start, end, {k: str(v) for k, v in case["params"].items()}) == []
        # the same 2,000 as one day's charge is the spike again
        store.con.execute('UPDATE costs SET "ChargePeriodEnd" = "ChargePeriodStart" + INTERVAL 1 DAY')
        assert [
            f.amount for f in run_rule(store, rule, start, end, {k: str(v) for k, v in case["params"].items()})
        ] == [Decimal("2000.00")]


def test_every_built_in_rule_has_cases_and_documentation() -> None:
    covered = {yaml.safe_load(p.read_text())["rule"] for p in CASES.glob("*.yaml")}
    for rule in load_rules():
        assert rule.id in covered, f"{rule.id} has no cases in tests/rules/"
        assert "How to fix" in rule.description and rule.summary


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('id = "X1"\nname = "x"\nseverity = "hgh"\nsummary = "s"\ndescription = "d"\nsql = "SELECT 1"\n',
         "did you mean 'high'"),
        ('id = "X1"\nname = "x"\nseverity = "high"\nsummary = "s"\ndescription = "d"\nsql = "SELECT 1"\nsqll = ""\n',
         "unknown key 'sqll'"),
        ('id = "X1"\nname = "x"\nseverity = "high"\nsummary = "s"\ndescription = "d"\nsql = "SELECT 1"\n'
         '[params.n]\ntype = "int"\ndefault = "ten"\n', "params.n.default must be a int"),
    ],
)  # fmt: skip
def test_bad_rule_files_name_the_file_and_key(text: str, message: str) -> None:
    with pytest.raises(UsageError) as error:
        load_rule(text, "my/rule.toml")
    assert error.value.message.startswith("my/rule.toml: ")
    assert message in f"{error.value.message} {error.value.hint}"


def test_user_rules_cli_new_then_seen_and_fail_on(tmp_path: Path, cli, demo_db: Path) -> None:
    folder = Path(__file__).parent / "data" / "user_rules"
    config = tmp_path / "finops.toml"
    config.write_text(f'[rules]\nfolder = "{folder}"\n')
    listed = cli("--config", config, "rules", "list")
    assert "USR001" in listed.out and "GPU001" in listed.out
    first = cli("--config", config, "rules", "run", "USR001", "--db", demo_db, "--format", "json", "--fail-on", "high")
    assert first.code == 0, first.err  # only low findings: below --fail-on
    findings = json.loads(first.out)["findings"]
    assert [f["subject"] for f in findings] == ["Amazon Elastic Compute Cloud", "Virtual Machines", "Compute Engine"]
    assert all(f["new"] for f in findings)
    again = cli("--config", config, "rules", "run", "USR001", "--db", demo_db, "--format", "json", "--fail-on", "low")
    assert again.code == 1  # a low finding meets --fail-on low
    assert not any(f["new"] for f in json.loads(again.out)["findings"])
    narrowed = cli("--config", config, "rules", "run", "USR001", "--db", demo_db, "--format", "json",
                   "--param", "USR001.limit=100000")  # fmt: skip
    assert [f["subject"] for f in json.loads(narrowed.out)["findings"]] == ["Amazon Elastic Compute Cloud"]
    bad = cli("--config", config, "rules", "run", "USR001", "--db", demo_db, "--param", "USR001.limt=1")
    assert bad.code == 2 and "rule USR001: no parameter 'limt'" in bad.err and "did you mean 'limit'" in bad.err


def test_the_demo_gpu_findings_match_the_report(cli, demo_db: Path) -> None:
    result = cli("rules", "run", "GPU001", "--db", demo_db, "--format", "json")
    amounts = {f["subject"].rsplit("/", 1)[-1]: Decimal(f["amount"]) for f in json.loads(result.out)["findings"]}
    assert amounts["lumen-nd-h100-01"] == Decimal("47193.60")
    assert amounts["i-00c10204387d4a685"] == Decimal("4515.00")  # the Savings-Plan p4d, at its amortised rate


def test_the_planted_anomaly_is_found_and_nothing_else(cli, demo_db: Path) -> None:
    result = cli("rules", "run", "ANO001", "--db", demo_db, "--period", "2026-11", "--format", "json")
    findings = json.loads(result.out)["findings"]
    assert [(f["evidence"]["service"], f["evidence"]["first_day"], f["evidence"]["days"], f["amount"])
            for f in findings] == [
        ("Amazon Elastic Compute Cloud", "2026-11-12", 2, "11798.40"),  # 4 extra p5.48xlarge, 120 h at $98.32
        ("AWS Data Transfer", "2026-11-12", 1, "1263.46"),  # the checkpoints' upload
    ]  # fmt: skip
    assert findings[0]["evidence"]["team"] == "research" and findings[0]["severity"] == "high"


def test_dry_runs_and_trial_runs_store_nothing_and_so_alert_nothing(cli, demo_db: Path, tmp_path: Path) -> None:
    import shutil

    import duckdb

    db = tmp_path / "store.duckdb"
    shutil.copy(demo_db, db)
    with duckdb.connect(str(db)) as con:  # other tests run rules on the shared demo store: start from none
        con.execute("DELETE FROM findings")

    def stored() -> int:
        with duckdb.connect(str(db), read_only=True) as con:
            return int(con.execute("SELECT count(*) FROM findings").fetchall()[0][0])

    config = tmp_path / "finops.toml"
    config.write_text('[alerts]\nmin_severity = "info"\n\n[alerts.sinks.out]\ntype = "stdout"\n')
    run = ("--config", config, "rules", "run", "ANO001", "--db", db, "--period", "2026-11", "--format", "json")
    dry = cli(*run, "--dry-run")
    assert dry.code == 0, dry.err
    assert [f["amount"] for f in json.loads(dry.out)["findings"]] == ["11798.40", "1263.46"]
    assert all(f["new"] for f in json.loads(dry.out)["findings"]) and "findings not stored: --dry-run" in dry.err
    trial = cli(*run, "--param", "ANO001.min_amount=2000")  # a trial: what would a higher floor find?
    assert [f["amount"] for f in json.loads(trial.out)["findings"]] == ["11798.40"]
    assert "findings not stored: a trial run with --param" in trial.err
    assert stored() == 0
    nothing = cli("--config", config, "alerts", "--db", db)
    assert nothing.code == 0 and "0 finding(s) sent" in nothing.err and nothing.out == ""
    kept = cli(*run, "--param", "ANO001.min_amount=2000", "--record")  # a trial made for good
    assert kept.code == 0 and "not stored" not in kept.err and stored() == 1
    again = cli(*run, "--dry-run")  # marks what is new against the store, still writing nothing
    assert [f["new"] for f in json.loads(again.out)["findings"]] == [False, True] and stored() == 1
    assert cli(*run, "--dry-run", "--record").code == 2
    sent = cli("--config", config, "alerts", "--db", db)
    assert sent.code == 0 and "1 finding(s) sent" in sent.err and '"11798.40"' in sent.out
