"""The nightly job and a person at a terminal at the same time: real processes, a real write in flight.

A writer that holds the store mid-transaction (one of its batches inserted) must never be seen half-done: a
`finops report` started meanwhile waits for the commit and reports the whole new state, and both exit 0.

Nothing here depends on how fast a process starts: the writer holds its transaction open until the test has seen
the report say that it is waiting, and only then writes the rest and commits."""

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
WAITING = "being written by another finops process"
# Prints "batch written" once its first batch is inserted (the transaction open, the store locked), then reads a
# line from stdin before it goes on: the test decides when the write may finish.
HELD_WRITER = """
import sys
from pathlib import Path
from finops.connectors.focus_files import read_focus_file
from finops.schema import COSTS
from finops.store import open_store

db, file = Path(sys.argv[1]), Path(sys.argv[2])
frame = read_focus_file(file, source="nightly")

def held():
    for index, chunk in enumerate(frame.iter_slices(n_rows=max(len(frame) // 4, 1))):
        yield chunk
        if index == 0:
            print("batch written", flush=True)
            assert sys.stdin.readline().strip() == "go"

with open_store(db) as store:
    store.replace_slices(COSTS, held(), checksum="nightly", inputs=[str(file)])
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


def _popen(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip


@pytest.mark.slow  # about 10 s of real processes: .ci/run runs it with the other slow checks
def test_a_report_during_a_write_waits_and_sees_only_whole_states(db: Path, tmp_path: Path) -> None:
    env = {**os.environ, "FINOPS_BUSY_TIMEOUT": "60", "COLUMNS": "120"}
    gcp, aws = TOOLKIT / "focus_1_2_cost_and_usage_gcp.csv", TOOLKIT / "focus_1_2_cost_and_usage_aws.csv"
    assert _finops("ingest", str(gcp), "--db", str(db), env=env).returncode == 0
    everything = ["report", "--db", str(db), "--period", "2000-01-01..2030-12-31", "--format", "json"]
    before = Decimal(json.loads(_finops(*everything, env=env).stdout)["total"]["amount"])
    assert before == _file_total(gcp)

    writer = _popen([sys.executable, "-c", HELD_WRITER, str(db), str(aws)], env)
    report = None
    try:
        assert writer.stdin is not None and writer.stdout is not None
        assert writer.stdout.readline().strip() == "batch written"  # the write is in flight, uncommitted
        report = _popen([sys.executable, "-m", "finops", *everything], env)
        assert report.stderr is not None
        said: list[str] = []  # its stderr up to the line that says it waits (EOF first: it never waited)
        while not said or WAITING not in said[-1]:
            line = report.stderr.readline()
            assert line, f"the report never waited for the write: {''.join(said)!r}"
            said.append(line)
        writer.stdin.write("go\n")  # the report is waiting on the lock: let the writer finish and commit
        writer.stdin.flush()
        out, err = writer.communicate(timeout=120)
        report_out, report_err = report.communicate(timeout=120)
    finally:
        writer.kill()
        if report is not None:
            report.kill()
    assert writer.returncode == 0, err
    assert "committed" in out
    assert report.returncode == 0, "".join(said) + report_err
    after = Decimal(json.loads(report_out)["total"]["amount"])
    assert after == before + _file_total(aws)  # the whole new state, never a part of the write
