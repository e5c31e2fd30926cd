"""[rules] engine and [rules.spark] in finops.toml, checked before any Spark session starts (no pyspark needed):
errors name the key, a token in a Spark Connect URL is never printed, `doctor` and `config show` tell what the
nightly run will use, and rules without a heavy tier are refused by name on Spark."""

from __future__ import annotations

from pathlib import Path

import pytest

TOKEN = "dapi-SECRET-123"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "finops.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[rules]\nengine = "sparkk"\n', "rules.engine 'sparkk'"),
        ('[rules.spark]\nmasters = "local"\n', "unknown key rules.spark.masters"),
        ('[rules.spark]\ntables = { cost = "x" }\n', "unknown table rules.spark.tables.cost"),
        (f'[rules.spark]\nmaster = "http://h;token={TOKEN}"\n', "rules.spark.master 'http://h' is not a Spark master"),
        ('[rules.spark]\nconf = "x"\n', "rules.spark.conf must be a table"),
    ],
)
def test_bad_engine_settings_exit_2_naming_the_key(cli, tmp_path: Path, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("--config", write(tmp_path, text), "rules", "run", "--db", tmp_path / "none.duckdb")
    assert result.code == 2
    assert message in result.err
    assert TOKEN not in result.err + result.out
    assert not (tmp_path / "none.duckdb").exists()


def test_a_bad_spark_master_flag_exits_2(cli, demo_db: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("rules", "run", "--db", demo_db, "--engine", "spark", "--spark-master", "yarnish")
    assert result.code == 2
    assert "--spark-master 'yarnish' is not a Spark master" in result.err


def test_rules_without_a_heavy_tier_are_refused_on_spark_by_name(cli, tmp_path: Path, demo_db: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "usr.toml").write_text(
        'id = "USR001"\nname = "usr.one"\nseverity = "low"\nsummary = "s"\ndescription = "d"\n'
        "sql = \"SELECT 'x' AS subject, 1 AS amount, 'USD' AS currency, 'm' AS message, '{}' AS evidence\"\n"
    )
    config = write(tmp_path, '[rules]\nfolder = "rules"\n')
    refused = cli("--config", config, "rules", "run", "--db", demo_db, "--engine", "spark")
    assert refused.code == 2
    assert "USR001" in refused.err and "only run on the duckdb engine" in refused.err
    assert cli("--config", config, "rules", "run", "USR001", "--db", demo_db, "--format", "json").code == 0


def test_doctor_and_config_show_tell_what_the_spark_engine_needs_without_the_token(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = write(
        tmp_path,
        f'[rules]\nengine = "spark"\n[rules.spark]\nmaster = "sc://h:443/;token={TOKEN}"\n'
        'tables = { costs = "main.finops.focus" }\n[sources.files]\ntype = "focus"\n',
    )
    doctor = cli("--config", config, "doctor", "--db", tmp_path / "none.duckdb")
    assert doctor.code == 3
    assert "engine spark: sqlglot: installed" in doctor.out
    assert "FAIL rules: engine spark: tables: not named: gpu_samples, usage_metrics" in doctor.out
    shown = cli("--config", config, "config", "show")
    assert shown.code == 0
    assert "rules.engine = 'spark'" in shown.out
    assert "rules.spark.master = 'sc://h:443/;...'" in shown.out
    assert "rules.spark.tables.costs = 'main.finops.focus'" in shown.out
    assert TOKEN not in doctor.out + doctor.err + shown.out + shown.err
