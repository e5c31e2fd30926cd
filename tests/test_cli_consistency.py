"""Issue 16, item 7: the CLI behaves the same whichever way a command is written.

Global flags work before or after the command's name; --debug prints a traceback and keeps the documented exit
code; every read-only command falls back to the demo as `report` does (alerts never do); `config show` prints every
setting finops.toml can hold, with where each value came from.
"""

from __future__ import annotations

import shutil
import socket
from dataclasses import fields
from pathlib import Path

import duckdb
import pytest

from finops.shutdown_policy import ShutdownPolicy


@pytest.fixture
def home_demo(demo_db: Path, tmp_path: Path) -> Path:
    """The session's demo store where a first run looks for it (the isolated XDG data folder), so the fallback
    finds it built (its fingerprint matches) instead of building it again in every test."""
    target = tmp_path / "xdg-data" / "finops" / "demo.duckdb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_db, target)
    return target


def test_global_flags_work_after_the_command(cli, demo_db: Path, tmp_path: Path, home_demo: Path) -> None:
    config = tmp_path / "finops.toml"
    config.write_text(f"[store]\ndb = {str(demo_db)!r}\n")
    after = cli("report", "--config", config, "--period", "2026-10")
    assert after.code == 0, after.err
    assert "Cloud spend October 2026" in after.out and "Demo data" not in after.err  # the file's store, not the demo
    assert cli("--config", config, "report", "--period", "2026-10").out == after.out

    # -q after the command silences what is for people, as it does before it
    loud, quiet = cli("report"), cli("report", "-q")
    assert loud.code == quiet.code == 0
    assert "Demo data" in loud.err and quiet.err == ""
    assert cli("-q", "report").err == ""

    assert cli("rules", "list", "-vv").code == 0
    assert cli("--db", demo_db, "report", "--period", "2026-10").out == after.out  # --db before the command too


def test_only_global_flags_move_and_a_commands_own_options_stay() -> None:
    from finops.cli import hoist_global_options as hoist

    assert hoist(["report", "-v", "--debug"]) == ["-v", "--debug", "report"]
    assert hoist(["rules", "run", "GPU001", "--config", "x.toml", "--period", "7d"]) == [
        "--config", "x.toml", "rules", "run", "GPU001", "--period", "7d"
    ]  # fmt: skip
    assert hoist(["report", "--config=x.toml", "-vv"]) == ["--config=x.toml", "-vv", "report"]
    # the command's own --db and `export focus --version` are the command's; a value is never taken for a flag
    assert hoist(["report", "--db", "a.duckdb"]) == ["report", "--db", "a.duckdb"]
    assert hoist(["export", "focus", "--version", "1.3"]) == ["export", "focus", "--version", "1.3"]
    assert hoist(["report", "--group-by", "-q"]) == ["report", "--group-by", "-q"]
    assert hoist(["rules", "run", "--", "-v"]) == ["rules", "run", "--", "-v"]


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed on leaving: nothing listens there


def test_debug_prints_the_traceback_and_keeps_the_exit_code(cli, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_refused_port()}"
    args = ["gpu", "ingest", "--db", tmp_path / "s.duckdb", "--prometheus", url, "--since", "2026-11-01T00:00",
            "--until", "2026-11-01T01:00"]  # fmt: skip
    plain = cli(*args)
    assert plain.code == 3 and "Traceback" not in plain.err
    for debug in (["--debug", *args], [*args, "--debug"]):
        result = cli(*debug)
        assert result.code == 3, result.err  # a source failure, with or without --debug
        assert "Traceback" in result.err and "error:" in result.err
    missing = cli("report", "--db", tmp_path / "missing.duckdb", "--debug")
    assert missing.code == 2 and "Traceback" in missing.err and "no finops database" in missing.err


BUDGET = '[budgets.transfer]\namount = 5000\nprovider = "AWS"\nservice = ["AWS Data Transfer"]\n'


def test_read_only_commands_fall_back_to_the_demo_like_report(cli, tmp_path: Path, home_demo: Path) -> None:
    config = tmp_path / "finops.toml"
    config.write_text(BUDGET)
    # the CI gate is the exception: before any sync it has nothing to judge, and says so, never the demo's verdict
    budget = cli("--config", config, "budget", "check", "--as-of", "2026-11-22", "--format", "json")
    assert budget.code == 4 and "Demo data" not in budget.err and budget.out == ""
    assert "nothing to judge the budgets on" in budget.err and "finops sync" in budget.err
    on_demo = cli("--config", config, "budget", "check", "--as-of", "2026-11-22", "--format", "json", "--db", home_demo)
    assert on_demo.code == 1 and '"transfer"' in on_demo.out  # breached on the demo, as tests/test_budgets.py shows

    plan = cli("shutdown", "plan", "--at", "2026-11-20T12:00:00")
    assert plan.code == 0 and "Demo data" in plan.err

    out = tmp_path / "export"
    export = cli("export", "focus", "-o", out)
    assert export.code == 0 and "Demo data" in export.err
    with duckdb.connect(str(home_demo), read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM costs").fetchone()
    assert rows is not None and f"{rows[0]:,} rows" in export.err

    rules = cli("rules", "run", "--period", "2026-11")
    assert rules.code == 0 and "this rules run shows the embedded demo" in rules.err

    # --db, $FINOPS_DB or [store] db naming a store that is not there is an error, never the demo
    missing = cli("budget", "check", "--db", tmp_path / "nope.duckdb")
    assert missing.code == 2 and "no finops database" in missing.err and "Demo data" not in missing.err


def test_alerts_never_run_on_the_demo(cli, tmp_path: Path, home_demo: Path) -> None:
    config = tmp_path / "finops.toml"
    config.write_text('[alerts.sinks.out]\ntype = "stdout"\n')
    result = cli("--config", config, "alerts")
    assert result.code == 2 and "no finops database" in result.err and "Demo data" not in result.err
    assert result.out == ""


def test_config_show_prints_every_setting_with_its_origin(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "finops.toml"
    config.write_text(
        '[store]\ndb = "costs.duckdb"\n\n[shutdown]\nidle_minutes = 90\n\n'
        '[budgets.transfer]\namount = 5000\nprovider = "AWS"\n\n'
        '[alerts.sinks.ops]\ntype = "slack"\nurl_env = "OPS_WEBHOOK"\n'
    )
    monkeypatch.setenv("FINOPS_MEMORY_LIMIT", "2GB")
    monkeypatch.delenv("FINOPS_BUSY_TIMEOUT")
    shown = cli("config", "show", "--config", config)
    assert shown.code == 0, shown.err
    lines = {line.split(" = ")[0]: line for line in shown.out.splitlines() if " = " in line}
    assert lines["store.db"].endswith(f"# {config}")
    assert lines["shutdown.idle_minutes"] == f"shutdown.idle_minutes = 90  # {config}"
    assert lines["budgets.transfer.amount"] == f"budgets.transfer.amount = 5000  # {config}"
    assert lines["alerts.sinks.ops.url_env"] == f"alerts.sinks.ops.url_env = 'OPS_WEBHOOK'  # {config}"
    assert lines["memory_limit"] == "memory_limit = '2GB'  # FINOPS_MEMORY_LIMIT"
    for key in ("sources", "gpu.hosts", "rules.engine", "rules.folder", "rules.spark.master", "inference.targets",
                "alerts.min_severity", "alerts.renotify_hours", "allocation.basis", "allocation.team_tags",
                "allocation.shared", "budgets.freshness_hours", "log_level"):  # fmt: skip
        assert key in lines and "# default" in lines[key], key
    for f in fields(ShutdownPolicy):  # every rail of `shutdown apply`
        assert f.name == "origin" or f"shutdown.{f.name}" in lines, f.name
    assert lines["shutdown.max_per_hour"] == "shutdown.max_per_hour = 500.0  # default"
