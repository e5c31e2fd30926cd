"""The nightly job and a person at a terminal at the same time: real processes, a real write in flight.

A writer that holds the store mid-transaction (half of its batches inserted) must never be seen half-done: a
`finops report` started meanwhile waits for the commit and reports the whole new state, and both exit 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from conftest import BILLING

TOOLKIT = BILLING / "focus-data-toolkit"
SLOW_WRITER = """
import sys, time
from pathlib import Path
from finops.connectors.focus_files import read_focus_file
from finops.schema import COSTS
from finops.store import open_store

db, file = Path(sys.argv[1]), Path(sys.argv[2])
frame = read_focus_file(file, source="nightly")

def slowly():
    for chunk in frame.iter_slices(n_rows=max(len(frame) // 4, 1)):
        yield chunk
        print("batch written", flush=True)
        time.sleep(1.0)

with open_store(db) as store:
    store.replace_slices(COSTS, slowly(), checksum="nightly", inputs=[str(file)])
print("committed", flush=True)
"""


def _file_total(path: Path) -> Decimal:
    with duckdb.connect() as con:
        return con.execute(
            "SELECT sum(CAST(EffectiveCost AS DECIMAL(38, 15))) FROM read_csv(?, all_varchar = true)", [str(path)]
        ).fetchone()[0]


def _finops(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "finops", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)  # fmt: skip


@pytest.mark.slow  # about 10 s of real processes: .ci/run runs it with the other slow checks
def test_a_report_during_a_write_waits_and_sees_only_whole_states(db: Path, tmp_path: Path) -> None:
    env = {**os.environ, "FINOPS_BUSY_TIMEOUT": "60", "COLUMNS": "120"}
    gcp, aws = TOOLKIT / "focus_1_2_cost_and_usage_gcp.csv", TOOLKIT / "focus_1_2_cost_and_usage_aws.csv"
    assert _finops("ingest", str(gcp), "--db", str(db), env=env).returncode == 0
    everything = ["report", "--db", str(db), "--period", "2000-01-01..2030-12-31", "--format", "json"]
    before = Decimal(json.loads(_finops(*everything, env=env).stdout)["total"]["amount"])
    assert before == _file_total(gcp)

    writer = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(db), str(aws)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "batch written"  # the write is in flight, uncommitted
        report = _finops(*everything, env=env)
        out, err = writer.communicate(timeout=120)
    finally:
        writer.kill()
    assert writer.returncode == 0, err
    assert "committed" in out
    assert report.returncode == 0, report.stderr
    assert "being written by another finops process" in report.stderr  # it said why it waited
    after = Decimal(json.loads(report.stdout)["total"]["amount"])
    assert after == before + _file_total(aws)  # the whole new state, never a part of the write
