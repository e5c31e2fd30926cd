"""Every table readable at 60, 80 and 120 columns: golden files for the report, the ingest and sync summaries,
budget check, rules findings and the shutdown plan, and no amount cut at 60 or 80 (a cut amount reads as another
amount)."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).parent.parent
GOLDEN = Path(__file__).parent / "golden"
BILLING = Path(__file__).parent / "data" / "billing"
INGESTED = [*sorted((BILLING / "focus-data-toolkit").glob("*.csv")), BILLING / "focus-sample-data" / "FOCUS-1.0"]
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
Capture = pytest.CaptureFixture[str]
# An amount, count or share as the tables print them (`$1,669`, `5,855.12`, `+3.2%`, `115,440`), standing alone:
# greedy, so a cut `5,855.` is not `5,855.12`, and a cut `1,6` is no number of the table. Digits inside names
# (`focus:AWS:1000000000`) are not amounts.
NUMBER = re.compile(r"(?<![\w:/.-])[-+]?\$?\d[\d,.]*%?(?![\w:/-])")


def _amounts(text: str) -> list[str]:
    return [n for n in NUMBER.findall(text) if any(mark in n for mark in "$,.%")]


class _Fixed(datetime):
    """The report's "now", so the freshness ages in the golden files do not move with the calendar."""

    @classmethod
    def now(cls, tz: object = None) -> _Fixed:  # type: ignore[override]
        return cls(2026, 11, 22, tzinfo=UTC)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> Path:
    """The demo store with its load times fixed (the golden files show how long ago each source was loaded)."""
    path = tmp_path_factory.mktemp("narrow") / "demo.duckdb"
    shutil.copy(demo_db, path)
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE loads SET loaded_at = TIMESTAMPTZ '2026-11-21 06:00:00+00'")
    return path


def _report(cli, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> str:
    monkeypatch.setattr("finops.ui.report_table.datetime", _Fixed)
    result = cli("report", "--db", store, "--as-of", "2026-11-20")
    assert result.code == 0, result.err
    return str(result.out)


def _ingest(cli, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> str:
    """The load summary of real FOCUS files (the FinOps Foundation's sample and data toolkit), printed for a store
    named `store.duckdb` and a fixed load id: the rest is what the load did."""
    from finops.ingest import ingest_focus
    from finops.ui.summary import print_load_result

    result = ingest_focus(tmp_path / "store.duckdb", INGESTED)
    print_load_result(dataclasses.replace(result, load_id="0" * 12), Path("store.duckdb"))
    return _captured(capsys)


def _sync(cli, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> str:
    """The sync summary: real loads of the same FOCUS files (new into an empty store, then replaced), a source
    whose manifest is unchanged, and a period that failed, as `finops sync` lists them."""
    from finops.errors import SourceError
    from finops.ingest import ingest_focus
    from finops.store import LoadResult
    from finops.sync import PeriodResult
    from finops.ui.summary import print_sync_results

    new = ingest_focus(tmp_path / "new.duckdb", INGESTED[:1])
    ingest_focus(tmp_path / "store.duckdb", INGESTED[:1])
    restated = tmp_path / INGESTED[0].name  # the same export restated: its last 40 rows dropped
    restated.write_text("".join(INGESTED[0].read_text().splitlines(keepends=True)[:-40]))
    replaced = ingest_focus(tmp_path / "store.duckdb", [restated])
    failed = SourceError("AccessDenied reading s3://billing-exports/cur2/data/BILLING_PERIOD=2026-11/")
    # one source per account, as a sync names its sources; the toolkit's file holds two accounts
    results = [PeriodResult(c.source, "2026-05", dataclasses.replace(load, slices=(c,)))
               for load in (new, replaced) for c in load.slices]  # fmt: skip
    results += [
        PeriodResult("aws-cur", "2026-10", LoadResult("", "costs", unchanged=True)),
        PeriodResult("aws-cur", "2026-11", LoadResult("", "costs"), error=failed),
    ]
    print_sync_results(results, Path("store.duckdb"))
    return _captured(capsys)


def _budget(cli, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> str:
    config = tmp_path / "finops.toml"
    config.write_text((ROOT / "sample_data" / "finops.toml").read_text() + BUDGETS)
    result = cli("--config", config, "budget", "check", "--db", store, "--as-of", "2026-11-22")
    assert result.code in (0, 1), result.err
    return str(result.out)


def _rules(cli, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> str:
    copy = tmp_path / "rules.duckdb"
    shutil.copy(store, copy)
    result = cli("rules", "run", "--db", copy, "--as-of", "2026-11-20")
    assert result.code == 0, result.err
    return str(result.out)


def _shutdown(cli, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> str:
    """A plan as `shutdown plan` shows it: the items are the ones its AWS test plans (tests/test_shutdown_aws.py)
    with their list prices per hour."""
    from finops.shutdown_plan import Plan, PlanItem
    from finops.shutdown_policy import ShutdownPolicy
    from finops.ui.shutdown_table import print_plan

    arn = "arn:aws:ec2:us-east-1:123456789012:instance/"
    since = datetime(2026, 11, 20, 6, 10, tzinfo=UTC)
    plan = Plan(
        now=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        items=(
            PlanItem(arn + "i-0a1b2c3d4e5f60718", "AWS", "stop", "idle 170 min (peak SM 0.4%), no protection",
                     "p5.48xlarge", 8, since, per_hour=Decimal("98.32")),
            PlanItem(arn + "i-0f9e8d7c6b5a40312", "AWS", "stop", "idle 95 min (peak SM 1.0%), no protection",
                     "g5.12xlarge", 4, since, per_hour=Decimal("5.672")),
            PlanItem(arn + "i-0123456789abcdef0", "AWS", "skip", "protected by tag finops:keep=true",
                     "p4d.24xlarge", 8, since, per_hour=Decimal("32.7726")),
            PlanItem(arn + "i-0fedcba9876543210", "AWS", "skip", "local NVMe data would be lost (instance store)",
                     "g5.xlarge", 1, None, per_hour=None),
        ),
        busy=2,
    )  # fmt: skip
    print_plan(plan, ShutdownPolicy(enabled=True))
    return _captured(capsys)


def _captured(capsys: Capture) -> str:
    out, err = capsys.readouterr()
    return str(out + err)


TABLES: dict[str, Callable[..., str]] = {"report": _report, "ingest": _ingest, "sync": _sync, "budget": _budget,
                                         "rules": _rules, "shutdown": _shutdown}  # fmt: skip


def _render(name: str, width: int, cli, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: Capture) -> str:  # fmt: skip
    monkeypatch.setenv("COLUMNS", str(width))
    tmp_path.mkdir(exist_ok=True)
    capsys.readouterr()
    return TABLES[name](cli, store, tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize("width", [60, 80, 120])
@pytest.mark.parametrize("name", list(TABLES))
def test_golden_at_each_width(name: str, width: int, cli, store: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    text = _render(name, width, cli, store, tmp_path, monkeypatch, capsys)
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width, "a line wider than the terminal"
    golden = GOLDEN / f"{name}.{width}.txt"
    if os.environ.get("FINOPS_UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text(), f"run with FINOPS_UPDATE_GOLDEN=1 to accept changes to {golden.name}"


@pytest.mark.parametrize("width", [60, 80])
@pytest.mark.parametrize("name", list(TABLES))
def test_no_number_is_cut(name: str, width: int, cli, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """Every number in the narrow rendering is a whole number of the wide one (where nothing is squeezed), and none
    ends in an ellipsis or is folded onto the next line."""
    wide = _render(name, 400, cli, store, tmp_path / "wide", monkeypatch, capsys)
    narrow = _render(name, width, cli, store, tmp_path / "narrow", monkeypatch, capsys)
    whole = set(_amounts(wide))
    assert len(whole) > 5, "the wide rendering shows numbers"
    for line in narrow.splitlines():
        assert not re.search(r"\d…|…\d", line), f"a number cut with an ellipsis at {width} columns: {line!r}"
        for number in _amounts(line):
            assert number in whole, f"{number!r} at {width} columns is not a number of the table: {line!r}"
