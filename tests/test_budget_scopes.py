"""A budget that names what the store does not hold is a configuration error, never a passing $0.00; a budget
with nothing in its scope in its period is "no data" (exit 4), never ok."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from finops.coerce import coerce
from finops.schema import COSTS
from finops.store import open_store

ROOT = Path(__file__).parents[1]
DEMO_TEAMS = "data, inference, platform, research"  # the demo's teams by its allocation policy (sample_data)


def _config(tmp_path: Path, budgets: str) -> Path:
    path = tmp_path / "finops.toml"
    path.write_text((ROOT / "sample_data" / "finops.toml").read_text() + "\n" + budgets)
    return path


def _check(cli, config: Path, db: Path, *args: str):
    return cli("--config", config, "budget", "check", "--db", db, "--as-of", "2026-11-22", *args)


@pytest.mark.parametrize(
    ("budget", "message", "hint"),
    [
        ('team = ["nosuchteam"]', "budgets.x.team = 'nosuchteam' matches no team in the store", f"valid: {DEMO_TEAMS}"),
        ('team = ["research", "reserch"]', "team = 'reserch' matches no team", "did you mean 'research'?"),
        ('provider = "AWZ"', "budgets.x.provider = 'AWZ' matches no provider", "did you mean 'AWS'?"),
        ('service = "Amazon Elastic Compute Cloud "', "service = 'Amazon Elastic Compute Cloud '",
         "did you mean 'Amazon Elastic Compute Cloud'?"),
        ('account = "lumen-reserch"', "account = 'lumen-reserch' matches no account (id or name)",
         "did you mean 'lumen-research'?"),
        ('category = "usage"', "category = 'usage' matches no category", "did you mean 'Usage'?"),
        ('tags = { projct = "llm" }', "tags: no cost in the store has the tag key 'projct'", "did you mean 'project'?"),
        ('tags = { team = "reserch" }', "tags.team = 'reserch' matches no value of tag 'team'", "'research'"),
        ('kind = "unit_cost"\nendpoint = "chat-llama-7b"', "endpoint = 'chat-llama-7b' matches no endpoint",
         "did you mean 'chat-llama-70b'? Valid: chat-llama-70b, embed-small, rerank-v2"),
        ('kind = "gpu_hours"\nteam = "reseach"', "team = 'reseach' matches no team", "did you mean 'research'?"),
        ('kind = "idle_share"\namount = 0.25\nteam = "Research"', "team = 'Research' matches no team", "'research'"),
        # each value is in the store, but no cost is both: an Azure service under provider AWS
        ('provider = "AWS"\nservice = "Bandwidth"', "budgets.x: no cost in the store is in all of provider AWS, "
         "service Bandwidth at once", "never together on one cost row"),
    ],
)  # fmt: skip
def test_a_scope_that_matches_nothing_is_a_configuration_error(cli, demo_db: Path, tmp_path: Path, budget: str,
                                                                message: str, hint: str) -> None:  # fmt: skip
    amount = "" if "amount" in budget else "amount = 1000\n"
    config = _config(tmp_path, f"[budgets.x]\n{amount}{budget}\n\n[budgets.fine]\namount = 10\nteam = 'data'\n")
    for fmt in ("table", "json", "junit", "github"):  # no format turns it into a report
        result = _check(cli, config, demo_db, "--format", fmt)
        assert result.code == 2, (result.out, result.err)
        assert result.out == ""
        assert f"{config}: " in result.err and message in result.err and hint in result.err


def test_the_typo_from_the_issue_no_longer_passes(cli, demo_db: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, '[budgets.research]\namount = 250000\nteam = ["nosuchteam"]\n')
    result = _check(cli, config, demo_db)
    assert result.code == 2 and "$0.00" not in result.out and " ok" not in result.out
    assert "budgets.research.team = 'nosuchteam'" in result.err


def test_a_budget_with_nothing_in_its_period_is_no_data_not_ok(cli, demo_db: Path, tmp_path: Path) -> None:
    """The demo's bills, GPU telemetry and request counters all start on 2026-08-23."""
    config = _config(tmp_path, """
[budgets.august]
amount = 1000
team = "research"
period = "2026-08-01..2026-08-20"

[budgets.chat-august]
kind = "unit_cost"
endpoint = "chat-llama-70b"
amount = 2.5
period = "2026-08-01..2026-08-22"

[budgets.september]
amount = 1000000
team = "research"
period = "2026-09-01..2026-09-30"
""")  # fmt: skip
    result = _check(cli, config, demo_db, "--format", "json")
    assert result.code == 4  # cannot be judged, as stale data
    doc = json.loads(result.out)
    budgets = {b["name"]: b for b in doc["budgets"]}
    assert budgets["august"]["status"] == "no_data" and budgets["august"]["actual"] is None
    assert budgets["chat-august"]["status"] == "no_data" and budgets["chat-august"]["actual"] is None
    assert doc["summary"]["no_data"] == 2 and doc["exit_code"] == 4
    # a period wholly past: its forecast is what it cost, not everything billed since it began
    # the demo policy's research (sample_data/finops.toml): the first team tag of team, cost_center, owner is
    # research, cc-research or dana (the dev box's owner); with none, the account lumen-research
    september = _sql(
        demo_db,
        """
        WITH t AS (SELECT "EffectiveCost" AS cost, "SubAccountId" AS i, "SubAccountName" AS n, "BillingAccountId" AS b,
                          coalesce(nullif("Tags"['team'], ''), nullif("Tags"['cost_center'], ''),
                                   nullif("Tags"['owner'], '')) AS tag
                   FROM costs WHERE "ChargePeriodStart" >= '2026-09-01' AND "ChargePeriodStart" < '2026-10-01')
        SELECT sum(cost) FROM t
        WHERE tag IN ('research', 'cc-research', 'dana') OR (tag IS NULL AND 'lumen-research' IN (i, n, b))""",
    )
    assert budgets["september"]["status"] == "ok"
    assert Decimal(budgets["september"]["actual"]) == Decimal(budgets["september"]["forecast"]) == september
    table = _check(cli, config, demo_db)
    assert table.code == 4 and "no data to judge: no cost in its scope from 2026-08-01 to 2026-08-20" in table.out


def _sql(db: Path, query: str) -> Decimal:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(query).fetchone()[0]  # type: ignore[index]


def test_a_store_without_costs_is_no_data_for_every_budget(cli, db: Path, tmp_path: Path) -> None:
    """Nothing to compare a scope with: no configuration error can be told from a typo, and nothing passes."""
    t0 = datetime(2026, 11, 2, tzinfo=UTC)
    usage = pl.DataFrame({"ts": [t0], "endpoint": ["chat"], "requests": [10], "interval_s": [60.0]})
    from finops.schema import USAGE_METRICS

    with open_store(db) as store:
        store.replace_slices(USAGE_METRICS, [coerce(usage, USAGE_METRICS, file="u").with_columns(
            x_Source=pl.lit("t"), x_Day=pl.lit(t0.date()))], checksum="u", inputs=["u"])  # fmt: skip
    config = tmp_path / "finops.toml"
    config.write_text('[budgets.research]\namount = 100\nteam = "research"\n')
    result = _check(cli, config, db, "--format", "json")
    assert result.code == 4, result.err
    (budget,) = json.loads(result.out)["budgets"]
    assert budget["status"] == "no_data" and budget["actual"] is None


def test_gpu_hours_of_a_team_with_none_is_no_data(cli, db: Path, tmp_path: Path) -> None:
    """Team b is in the bill but its GPUs report nothing: a GPU quota over no telemetry is not a quota kept."""
    t0 = datetime(2026, 11, 2, tzinfo=UTC)
    costs = pl.DataFrame({
        "ProviderName": ["AWS"] * 2, "ServiceName": ["Amazon Elastic Compute Cloud"] * 2, "ResourceId": ["r1", "r2"],
        "Tags": ['{"team": "a"}', '{"team": "b"}'], "ChargeCategory": ["Usage"] * 2, "BilledCost": ["10", "20"],
        "EffectiveCost": ["10", "20"], "ChargePeriodStart": [t0] * 2, "ChargePeriodEnd": [t0 + timedelta(days=1)] * 2,
        "BillingPeriodStart": [t0.replace(day=1)] * 2, "BillingPeriodEnd": [datetime(2026, 12, 1, tzinfo=UTC)] * 2,
        "BillingCurrency": ["USD"] * 2,
    })  # fmt: skip
    samples = pl.DataFrame({
        "ts": [t0 + timedelta(hours=h) for h in range(4)], "instance_id": ["r1"] * 4, "gpu_uuid": ["GPU-0"] * 4,
        "interval_s": [3600.0] * 4, "sm_active_pct": [50.0] * 4, "labels": ['{"team": "a"}'] * 4,
        "x_Source": ["t"] * 4, "x_Day": [t0.date()] * 4,
    })  # fmt: skip
    from finops.schema import GPU_SAMPLES

    with open_store(db) as store:
        store.replace_slices(COSTS, [coerce(costs, COSTS, file="c").with_columns(x_Source=pl.lit("t"))],
                             checksum="c", inputs=["c"])  # fmt: skip
        store.replace_slices(GPU_SAMPLES, [coerce(samples, GPU_SAMPLES, file="s")], checksum="s", inputs=["s"])
    config = tmp_path / "finops.toml"
    config.write_text('[budgets]\nfreshness_hours = 100000\n[budgets.a]\nkind = "gpu_hours"\nteam = "a"\n'
                      'amount = 100\n[budgets.b]\nkind = "gpu_hours"\nteam = "b"\namount = 100\n')  # fmt: skip
    result = cli("--config", config, "budget", "check", "--db", db, "--as-of", "2026-11-03", "--format", "json")
    budgets = {b["name"]: b for b in json.loads(result.out)["budgets"]}
    assert budgets["a"]["status"] == "ok" and Decimal(budgets["a"]["actual"]) == 4  # four hourly samples
    assert budgets["b"]["status"] == "no_data" and budgets["b"]["actual"] is None
    assert result.code == 4
