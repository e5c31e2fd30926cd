"""`finops report` on the demo store: every section present, every number reconciled with the source files."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from decimal import Decimal
from pathlib import Path

import duckdb
import jsonschema
import pytest

ROOT = Path(__file__).parent.parent
SAMPLES = ROOT / "sample_data"
GOLDEN = Path(__file__).parent / "golden"
SCHEMA = json.loads((ROOT / "finops" / "schemas" / "report.v1.json").read_text())
NOV = ("2026-11-01", "2026-11-21")  # the demo's month to date, as of its newest data


def source_total(start: str, end: str) -> Decimal:
    """EffectiveCost straight from the sample files with plain DuckDB, none of finops' code."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    window = '"ChargePeriodStart" >= CAST(? AS TIMESTAMPTZ) AND "ChargePeriodStart" < CAST(? AS TIMESTAMPTZ)'
    parquet = con.execute(
        f'SELECT sum(CAST("EffectiveCost" AS DECIMAL(38, 15))) FROM read_parquet(?) WHERE {window}',
        [[str(SAMPLES / "costs_aws.parquet"), str(SAMPLES / "costs_gcp.parquet")], start, end],
    ).fetchall()[0][0]
    azure = con.execute(
        'SELECT sum(CAST("EffectiveCost" AS DECIMAL(38, 15))) FROM read_csv(?, all_varchar = true) '
        'WHERE CAST("ChargePeriodStart" AS TIMESTAMPTZ) >= CAST(? AS TIMESTAMPTZ) '
        'AND CAST("ChargePeriodStart" AS TIMESTAMPTZ) < CAST(? AS TIMESTAMPTZ)',
        [str(SAMPLES / "costs_azure.csv"), start, end],
    ).fetchall()[0][0]
    return Decimal(parquet) + Decimal(azure)


@pytest.fixture(scope="module")
def report_json(demo_db: Path) -> dict[str, object]:
    from finops.output.report_json import report_to_dict
    from finops.report import ReportOptions, build_report

    return report_to_dict(build_report(demo_db, ReportOptions(group_by="provider,service,team,region")))


def test_first_run_without_a_database_shows_the_demo(cli) -> None:
    result = cli("report")
    assert result.code == 0, result.err
    assert "Demo data" in result.err and "Demo data" not in result.out
    for section in ("Cloud spend", "By provider", "By service", "By team", "GPUs:", "Top resources", "Daily spend",
                    "Data freshness", "(untagged)", "p5.48xlarge"):  # fmt: skip
        assert section in result.out, section


def test_json_matches_its_schema_and_the_source_files(report_json: dict) -> None:
    jsonschema.validate(report_json, SCHEMA)
    assert (report_json["period"]["start"], report_json["period"]["end"]) == NOV
    assert Decimal(report_json["total"]["amount"]) == source_total(*NOV)
    assert Decimal(report_json["total"]["previous"]) == source_total("2026-10-01", "2026-10-21")


def test_every_breakdown_and_the_daily_trend_sum_to_the_total(report_json: dict) -> None:
    total = Decimal(report_json["total"]["amount"])
    for breakdown in report_json["breakdowns"]:
        lines = breakdown["lines"] + ([breakdown["other"]] if breakdown["other"] else [])
        assert sum(Decimal(line["amount"]) for line in lines) == total, breakdown["dimension"]
        assert sum(Decimal(line["previous"]) for line in lines) == Decimal(report_json["total"]["previous"])
    assert sum(Decimal(day["total"]) for day in report_json["daily"]) == total
    assert [b["dimension"] for b in report_json["breakdowns"]] == ["provider", "service", "team", "region"]


def test_the_anomaly_stands_out_in_the_daily_trend(report_json: dict) -> None:
    # Nov 1 carries the month's commitments and support fees; among the other days Nov 12 must top the chart.
    days = {d["date"]: Decimal(d["total"]) for d in report_json["daily"] if d["date"] != "2026-11-01"}
    assert max(days, key=days.__getitem__) == "2026-11-12"
    ordinary = sorted(days.values())[len(days) // 2]
    assert days["2026-11-12"] > ordinary * Decimal("1.5")


def test_gpu_spend_is_priced_from_the_bill(report_json: dict, demo_db: Path) -> None:
    lines = {g["instance_type"]: g for g in report_json["gpu"]["lines"]}
    assert {"p5.48xlarge", "p4d.24xlarge", "g5.12xlarge", "g5.xlarge", "a3-highgpu-8g", "g2-standard-48",
            "Standard_ND96isr_H100_v5"} <= set(lines)  # fmt: skip
    with duckdb.connect(str(demo_db), read_only=True) as con:
        billed = con.execute(
            """SELECT sum("EffectiveCost"), sum("ConsumedQuantity") FROM costs
               WHERE json_extract_string("SkuPriceDetails", '$.InstanceType') = 'p4d.24xlarge'
                 AND "ChargePeriodStart" >= TIMESTAMPTZ '2026-11-01'
                 AND "ChargePeriodStart" < TIMESTAMPTZ '2026-11-21'"""
        ).fetchall()[0]
    p4d = lines["p4d.24xlarge"]
    assert Decimal(p4d["amount"]) == billed[0]
    assert Decimal(p4d["gpu_hours"]) == billed[1] * 8
    # The Savings Plan makes the p4d cheaper than its list price: the report shows the bill, not the list.
    assert Decimal(p4d["cost_per_gpu_hour"]) < Decimal(p4d["list_price_per_gpu_hour"])
    assert lines["Standard_ND96isr_H100_v5"]["mean_util_pct"] is not None


def test_tag_group_by_and_unknown_dimensions(cli, demo_db: Path) -> None:
    ok = cli("report", "--db", demo_db, "--group-by", "tag:Environment,category", "--format", "json")
    assert ok.code == 0, ok.err
    dims = [b["dimension"] for b in json.loads(ok.out)["breakdowns"]]
    assert dims == ["tag:environment", "category"]
    bad = cli("report", "--db", demo_db, "--group-by", "teams")
    assert bad.code == 2 and "did you mean 'team'" in bad.err


def test_csv_is_one_tidy_table(cli, demo_db: Path) -> None:
    result = cli("report", "--db", demo_db, "--format", "csv")
    assert result.code == 0
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert {r["section"] for r in rows} == {
        "total",
        "breakdown",
        "gpu",
        "gpu_idle",
        "inference",
        "top_resources",
        "daily",
    }
    total = next(r for r in rows if r["section"] == "total")
    assert Decimal(total["amount"]) == source_total(*NOV)


def test_output_file_keeps_stdout_empty(cli, demo_db: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    result = cli("report", "--db", demo_db, "--format", "markdown", "--output", target)
    assert result.code == 0 and result.out == ""
    assert target.read_text().startswith("## Cloud spend, Nov 1-20, 2026")


@pytest.mark.parametrize("fmt", ["markdown", "json"])
def test_golden_output(cli, demo_db: Path, fmt: str) -> None:
    result = cli("report", "--db", demo_db, "--format", fmt, "--as-of", "2026-11-20")
    assert result.code == 0
    text = result.out
    if fmt == "json":
        data = json.loads(text)
        data["generated_at"] = data["database"] = "<varies>"
        for row in data["freshness"]:
            row["last_loaded"] = "<varies>"
        text = json.dumps(data, indent=2) + "\n"
    golden = GOLDEN / f"report.{fmt}"
    if os.environ.get("FINOPS_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text(), f"run with FINOPS_UPDATE_GOLDEN=1 to accept changes to {golden.name}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "fortnight"], "is not a period I know"),
        (["--cost", "billd"], "did you mean 'billed'"),
        (["--as-of", "20-11-2026"], "--as-of"),
    ],
)
def test_bad_options_are_usage_errors(cli, demo_db: Path, args: list[str], message: str) -> None:
    result = cli("report", "--db", demo_db, *args)
    assert result.code == 2
    assert message in result.err and result.out == ""


def test_an_explicit_missing_database_is_not_replaced_by_the_demo(cli, tmp_path: Path) -> None:
    result = cli("report", "--db", tmp_path / "missing.duckdb")
    assert result.code == 2
    assert "no finops database at" in result.err and "finops ingest" in result.err


def test_idle_gpus_are_priced_from_the_bill(report_json: dict) -> None:
    idle = {row["instance_id"].rsplit("/", 1)[-1]: row for row in report_json["gpu_idle"]}
    nd = idle["lumen-nd-h100-01"]  # nothing has run on it since Oct 31: all of November is idle
    assert nd["busy_share"] == 0 and nd["hours_by_state"] == {"idle_empty": nd["gpu_hours"]}
    assert nd["price_basis"] == "bill" and Decimal(nd["idle_cost"]) == Decimal("47193.60")  # its whole November bill
    dev = idle["i-09ac69aa1372b7c23"]  # the forgotten g5.xlarge: memory held, nothing running
    assert set(dev["hours_by_state"]) == {"idle_reserved"} and dev["team"] == "dana"
    p4d = idle["i-00c10204387d4a685"]  # on the Savings Plan: its idle hours cost the amortised rate, not list
    assert Decimal(p4d["cost_per_gpu_hour"]) == Decimal("2.625")
    sweep = [row for row in report_json["gpu_idle"] if row["gpu_hours"] == 240]
    assert len(sweep) == 4 and all(row["busy_share"] == 1 for row in sweep)  # the anomaly's 4 p5s were busy


def test_cost_per_inference_splits_shared_instances_exactly(report_json: dict, demo_db: Path) -> None:
    endpoints = {e["endpoint"]: e for e in report_json["inference"]}
    assert set(endpoints) == {"chat-llama-70b", "embed-small", "rerank-v2"}
    shared = [e for e in endpoints.values() if len(e["resources"]) == 1 and "lumen-embed-01" in e["resources"][0]]
    with duckdb.connect(str(demo_db), read_only=True) as con:
        g2 = con.execute(
            """SELECT sum("EffectiveCost") FROM costs WHERE "ResourceId" LIKE '%/lumen-embed-01'
               AND "ChargePeriodStart" >= TIMESTAMPTZ '2026-11-01' AND "ChargePeriodStart" < TIMESTAMPTZ '2026-11-21'"""
        ).fetchall()[0][0]
    assert len(shared) == 2 and sum(Decimal(e["cost"]) for e in shared) == g2  # split by requests, exact in sum
    chat = endpoints["chat-llama-70b"]
    assert Decimal(chat["cost_per_1k_requests"]) == (Decimal(chat["cost"]) * 1000 / chat["requests"]).quantize(
        Decimal("0.0001")
    )
    assert 1.3 < chat["p95_latency_s"] < 1.7 and endpoints["embed-small"]["p95_latency_s"] < 0.3


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    from finops.inference import _quantile

    le = [0.1, 0.5, 1.0, float("inf")]
    assert _quantile(0.95, le, [0, 50, 100, 100]) == pytest.approx(0.95)  # 95th of 100 lies in (0.5, 1.0]
    assert _quantile(0.5, le, [10, 50, 100, 100]) == pytest.approx(0.5)
    assert _quantile(0.95, le, [0, 0, 10, 100]) == 1.0  # in +Inf: the last finite bound


def test_energy_per_request_comes_from_the_serving_gpus_power(report_json: dict, demo_db: Path) -> None:
    endpoints = {e["endpoint"]: e for e in report_json["inference"]}
    with duckdb.connect(str(demo_db), read_only=True) as con:
        chat_kwh, shared_kwh = con.execute(
            """SELECT sum(power_w * interval_s) FILTER (WHERE instance_type = 'g5.12xlarge') / 3.6e6,
                      sum(power_w * interval_s) FILTER (WHERE instance_type = 'g2-standard-48') / 3.6e6
               FROM gpu_samples WHERE ts >= TIMESTAMPTZ '2026-11-01' AND ts < TIMESTAMPTZ '2026-11-21'"""
        ).fetchone()
    chat = endpoints["chat-llama-70b"]
    assert chat["energy_kwh"] == pytest.approx(chat_kwh, abs=1e-3)  # its own two instances, all of their energy
    assert chat["kwh_per_1k_requests"] == pytest.approx(chat_kwh * 1000 / chat["requests"], rel=1e-3)
    # the shared L4 node's energy is split by successful requests, like its cost, and adds up to all of it
    split = endpoints["embed-small"]["energy_kwh"] + endpoints["rerank-v2"]["energy_kwh"]
    assert split == pytest.approx(shared_kwh, abs=2e-3)


def test_a_narrow_terminal_without_colour_stays_readable(cli, demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "70")
    monkeypatch.setenv("NO_COLOR", "1")
    for args in ([], ["--by", "team"]):
        result = cli("report", "--db", demo_db, "--as-of", "2026-11-20", *args)
        assert result.code == 0
        assert "\x1b[" not in result.out  # no colour codes
        lines = result.out.splitlines()
        assert max(len(line) for line in lines) <= 70
        amounts = re.findall(r"\$[0-9,.]+…?", result.out)
        assert amounts and not [a for a in amounts if a.endswith("…")]  # an amount is never cut short
    assert "$160,958" in cli("report", "--db", demo_db, "--as-of", "2026-11-20").out  # AWS, whole


def test_quiet_leaves_stderr_to_errors(cli, tmp_path: Path) -> None:
    demo = cli("--quiet", "report", "--format", "json")  # the first run builds the demo and would say so
    assert demo.code == 0 and demo.err == "" and json.loads(demo.out)["kind"] == "finops.report"
    missing = cli("--quiet", "report", "--db", tmp_path / "none.duckdb")
    assert missing.code == 2 and "error: no finops database" in missing.err


# Issue 16, item 8: what the figures cannot say by themselves is said on stderr and in the JSON's warnings.
FOCUS_SAMPLE = Path(__file__).parent / "data" / "billing" / "focus-sample-data" / "FOCUS-1.0" / "focus_sample.csv"


def test_a_period_without_data_warns_and_fails_on_empty(cli, demo_db: Path) -> None:
    result = cli("report", "--db", demo_db, "--period", "2020-01")
    assert result.code == 0  # a report, but not a silent one
    assert "warning: no cost data for January 2020 (2020-01-01..2020-01-31)" in result.err
    assert "the store's cost data runs 2026-08-23..2026-11-20" in result.err  # the demo's first and last days
    assert "warning:" not in result.out  # on stderr, not twice on a terminal
    as_json = cli("report", "--db", demo_db, "--period", "2020-01", "--format", "json", "--fail-on-empty")
    assert as_json.code == 4  # STALE: data missing, too stale to judge (README, Exit codes)
    assert "error: no cost data for January 2020: --fail-on-empty" in as_json.err
    doc = json.loads(as_json.out)  # the report is still written first
    jsonschema.validate(doc, SCHEMA)
    assert doc["coverage"]["period"] == {"days": 31, "days_with_data": 0, "with_data": ""}
    assert any(w.startswith("no cost data for January 2020") for w in doc["warnings"])
    ok = cli("report", "--db", demo_db, "--period", "2026-10", "--fail-on-empty")  # a month with data passes
    assert ok.code == 0 and "warning" not in ok.err


def _days_with_data(start: str, end: str) -> list[str]:
    """Days in [start, end) on which a line item of at most a day starts, straight from the CSV with DuckDB."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(
        """SELECT DISTINCT CAST(CAST("ChargePeriodStart" AS TIMESTAMPTZ) AS DATE) AS d
           FROM read_csv(?, all_varchar = true)
           WHERE CAST("ChargePeriodEnd" AS TIMESTAMPTZ) - CAST("ChargePeriodStart" AS TIMESTAMPTZ) <= INTERVAL 1 DAY
             AND CAST("ChargePeriodStart" AS TIMESTAMPTZ) >= CAST(? AS TIMESTAMPTZ)
             AND CAST("ChargePeriodStart" AS TIMESTAMPTZ) < CAST(? AS TIMESTAMPTZ) ORDER BY d""",
        [str(FOCUS_SAMPLE), start, end],
    ).fetchall()
    return [str(d) for (d,) in rows]


def test_a_partly_loaded_comparison_window_is_named(cli, db: Path) -> None:
    """The FinOps Foundation's FOCUS 1.0 sample holds September 2024 only: 21 days from Sep 10 compare with the 21
    days before (Aug 20 - Sep 9), of which only Sep 1-9 hold data."""
    assert cli("ingest", "--db", db, FOCUS_SAMPLE).code == 0
    previous_days = _days_with_data("2024-08-20", "2024-09-10")
    assert previous_days == [f"2024-09-0{d}" for d in range(1, 10)]  # what the file holds, read by hand
    result = cli("report", "--db", db, "--period", "2024-09-10..2024-09-30", "--format", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    jsonschema.validate(doc, SCHEMA)
    assert doc["coverage"]["previous"] == {"days": 21, "days_with_data": 9, "with_data": "2024-09-01..2024-09-09"}
    assert doc["coverage"]["period"]["days_with_data"] == len(_days_with_data("2024-09-10", "2024-10-01")) == 21
    warning = (
        "the comparison window 2024-08-20 to 2024-09-09 (2024-08-20..2024-09-09) has cost data on only 9 of 21 "
        "days (2024-09-01..2024-09-09): the change compares against a partly loaded window"
    )
    assert doc["warnings"] == [warning]
    assert f"warning: {warning}" in result.err
    whole = cli("report", "--db", db, "--period", "2024-09-16..2024-09-30", "--format", "json")  # Sep 1-15 before
    assert json.loads(whole.out)["warnings"] == [] and "warning" not in whole.err


def test_a_partly_loaded_period_is_named(cli, db: Path) -> None:
    """The same sample asked for Aug 25 - Sep 14: only Sep 1-14 hold data, so the total covers 14 of 21 days."""
    assert cli("ingest", "--db", db, FOCUS_SAMPLE).code == 0
    held = _days_with_data("2024-08-25", "2024-09-15")
    assert held == [f"2024-09-{d:02d}" for d in range(1, 15)]  # what the file holds, read by hand
    result = cli("report", "--db", db, "--period", "2024-08-25..2024-09-14", "--format", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["coverage"]["period"] == {"days": 21, "days_with_data": 14, "with_data": "2024-09-01..2024-09-14"}
    warning = (
        "2024-08-25 to 2024-09-14 (2024-08-25..2024-09-14) has cost data on only 14 of 21 days "
        "(2024-09-01..2024-09-14): its total covers those days only"
    )
    assert warning in doc["warnings"] and f"warning: {warning}" in result.err


def test_an_unknown_tag_key_is_named_with_the_known_ones(cli, demo_db: Path) -> None:
    result = cli("report", "--db", demo_db, "--group-by", "tag:nonexistent,tag:tem,tag:team", "--format", "json")
    assert result.code == 0
    # The sample files' tag keys (user:project, user:owner, user:Name, team, Team, user:team, user:Team,
    # cost-center, user:cost-center, user:service), as finops normalises tag keys at ingest (README: "keys are
    # normalised").
    known = "known tag keys: cost_center, name, owner, project, service, team"
    warnings = json.loads(result.out)["warnings"]
    assert warnings == [
        "--group-by tag:nonexistent: no cost row in these windows has the tag 'nonexistent', so all spend shows as "
        f"(untagged); {known}",
        "--group-by tag:tem: no cost row in these windows has the tag 'tem', so all spend shows as (untagged); "
        f"did you mean 'team'? {known}",
    ]
    assert all(f"warning: {w}" in result.err for w in warnings)
