"""`rules run --param RULE.team=...` (and endpoint, resource, provider, service, account, category): a trial value
the store does not hold is refused before anything runs or is stored, with the values it does hold."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

# A user rule in the built-in rules' shape, with str parameters that name a team, an endpoint and a resource
# (empty: every one), and one that names nothing in the store (a free-text label).
RULE = '''
id = "USR001"
name = "team.spend"
severity = "low"
summary = "A team's cost, optionally of one endpoint's or one resource's bill"
description = "Cost per team tag over the period, at least min_amount."
sql = """
SELECT team AS subject, sum(cost) AS amount, 'USD' AS currency, format('{} {}', $label, team) AS message,
       json_object('team', team) AS evidence
FROM (SELECT "EffectiveCost" AS cost, coalesce(nullif("Tags"['team'], ''), '(untagged)') AS team, "ResourceId" AS r
      FROM costs WHERE "ChargePeriodStart" >= $period_start AND "ChargePeriodStart" < $period_end)
WHERE ($team = '' OR team = $team) AND ($target_resource = '' OR r LIKE '%' || $target_resource)
  AND ($endpoint = '' OR r IN (SELECT resource_id FROM usage_metrics WHERE endpoint = $endpoint))
GROUP BY team HAVING sum(cost) >= $min_amount
"""
[params.team]
type = "str"
default = ""
help = "the team (empty: every team)"
[params.endpoint]
type = "str"
default = ""
help = "only the instances serving this endpoint"
[params.target_resource]
type = "str"
default = ""
help = "only this resource"
[params.label]
type = "str"
default = "spend of"
help = "words in the message"
[params.min_amount]
type = "float"
default = 0.0
help = "report a team spending at least this"
'''


@pytest.fixture
def setup(tmp_path: Path, demo_db: Path) -> tuple[Path, Path]:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "usr001.toml").write_text(RULE)
    config = tmp_path / "finops.toml"
    config.write_text((Path(__file__).parents[1] / "sample_data" / "finops.toml").read_text()
                      + '\n[rules]\nfolder = "rules"\n')  # fmt: skip
    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, db)
    return config, db


def _findings(db: Path) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT count(*) FROM findings").fetchone()[0]  # type: ignore[index]


@pytest.mark.parametrize(
    ("param", "message", "hint"),
    [
        ("USR001.team=reserch", "--param USR001.team = 'reserch' matches no team in the store",
         "did you mean 'research'?"),
        ("USR001.endpoint=chat-llama-7b", "--param USR001.endpoint = 'chat-llama-7b' matches no endpoint",
         "did you mean 'chat-llama-70b'?"),
        ("USR001.target_resource=i-0nothere", "--param USR001.target_resource = 'i-0nothere' matches no resource",
         "the closest resource ids: "),
    ],
)  # fmt: skip
def test_a_trial_param_naming_nothing_is_refused(cli, setup: tuple[Path, Path], param: str, message: str,
                                                 hint: str) -> None:  # fmt: skip
    config, db = setup
    before = _findings(db)
    result = cli("--config", config, "rules", "run", "USR001", "--db", db, "--param", param)
    assert result.code == 2 and result.out == ""
    assert message in result.err and hint in result.err
    assert _findings(db) == before  # refused before anything ran or was stored


def test_values_the_store_holds_run(cli, setup: tuple[Path, Path]) -> None:
    config, db = setup
    with duckdb.connect(str(db), read_only=True) as con:
        (resource,) = con.execute(  # an instance of research's, by the last segment of its ARN
            """SELECT regexp_extract("ResourceId", '[^/]+$') FROM costs WHERE "Tags"['team'] = 'research'
               AND "ResourceId" LIKE 'arn:aws:ec2:%instance/%' LIMIT 1"""
        ).fetchone()  # type: ignore[misc]
    for params in (
        ["USR001.team=research"],
        ["USR001.team=cc-research"],  # a raw tag value a rule's SQL may read is a team as well
        ["USR001.endpoint=chat-llama-70b"],
        [f"USR001.target_resource={resource}"],
        ["USR001.team=", "USR001.label=nothing to do with the store"],  # empty: every team; label: no scope
    ):
        result = cli("--config", config, "rules", "run", "USR001", "--db", db,
                     *(a for p in params for a in ("--param", p)))  # fmt: skip
        assert result.code == 0, (params, result.err)
    research = cli("--config", config, "rules", "run", "USR001", "--db", db, "--param", "USR001.team=research")
    assert "research" in research.out
