"""Shared fixtures: real DuckDB files in tmp_path, the copied billing fixtures, and a CLI runner that goes
through the same error boundary as the installed `finops` command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
BILLING = DATA / "billing"


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test touches the user's data folder or inherits a FINOPS_* setting from the shell."""
    for name in ("FINOPS_DB", "FINOPS_LOG_LEVEL", "FINOPS_DEBUG", "FINOPS_MEMORY_LIMIT", "FINOPS_AS_OF"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("FINOPS_BUSY_TIMEOUT", "1")
    monkeypatch.setenv("COLUMNS", "160")
    yield


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store.duckdb"


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `finops ARGS...` in-process through `finops.cli.run`, capturing stdout and stderr separately."""
    from finops.cli import run

    def invoke(*args: str | Path) -> CliResult:
        capsys.readouterr()
        code = run([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo database, built once per test session through the real ingest path."""
    from finops.demo import ensure_demo_db

    return ensure_demo_db(tmp_path_factory.mktemp("demo") / "demo.duckdb")
