"""The architecture, checked: the library never imports the UI, connectors and rules never import each other,
only the store talks to DuckDB, and `finops --help` loads no heavy module."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PACKAGES = {
    "finops": ROOT / "finops",
    "finops.connectors": ROOT / "connectors",
    "finops.rules": ROOT / "rules",
}
UI_MODULES = ("finops.cli", "finops.ui", "finops.__main__")  # __main__: `python -m finops`, the CLI


def modules() -> dict[str, set[str]]:
    """Module name -> every module it imports (absolute names), from the source files."""
    found: dict[str, set[str]] = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            relative = path.relative_to(folder).with_suffix("")
            parts = [p for p in relative.parts if p != "__init__"]
            name = ".".join([package, *parts])
            imports: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    imports.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    imports.add(node.module)
            found[name] = imports
    return found


def _is(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_the_library_never_imports_the_ui() -> None:
    offenders = {
        name: sorted(i for i in imports if any(_is(i, p) for p in ("typer", "rich", *UI_MODULES)))
        for name, imports in modules().items()
        if not any(_is(name, ui) for ui in UI_MODULES)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_connectors_and_rules_do_not_import_each_other() -> None:
    found = modules()
    for name, imports in found.items():
        if _is(name, "finops.connectors"):
            assert not any(_is(i, "finops.rules") for i in imports), name
        if _is(name, "finops.rules"):
            assert not any(_is(i, "finops.connectors") for i in imports), name


def test_only_the_store_talks_to_duckdb() -> None:
    users = sorted(name for name, imports in modules().items() if any(_is(i, "duckdb") for i in imports))
    assert users == ["finops.store"]


def test_the_cli_holds_no_sql() -> None:
    for path in (ROOT / "finops" / "cli").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not any(word in text for word in ("SELECT ", "INSERT ", "DELETE ", "duckdb.connect")), path.name


def test_help_imports_no_heavy_module() -> None:
    probe = (
        "import sys, io, contextlib\n"
        "from finops.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    code = run(['--help'])\n"
        "heavy = ['duckdb', 'polars', 'pyarrow', 'boto3', 'google.cloud', 'azure', 'pynvml', 'pyspark']\n"
        "print(json.dumps({'code': code, 'loaded': [m for m in heavy if m in sys.modules]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", "import json\n" + probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {"code": 0, "loaded": []}


def test_ingest_report_and_rules_never_import_pandas(tmp_path: Path) -> None:
    """pyarrow's own constructors import pandas whenever it is installed (a second on every run, for nothing):
    finops builds its Arrow arrays without them. pandas is in the dev group so that this can fail."""
    import importlib.util

    assert importlib.util.find_spec("pandas") is not None, "pandas must be installed for this check to mean anything"
    sample = Path(__file__).parent / "data" / "billing"
    focus = sorted((sample / "focus-data-toolkit").glob("*.csv"))[0]  # a Cost and Usage file
    probe = (
        "import sys, io, contextlib\n"
        "from finops.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    codes = [run(['--quiet', 'ingest', {str(focus)!r}, '--db', {str(tmp_path / 'p.duckdb')!r}]),\n"
        f"             run(['report', '--db', {str(tmp_path / 'p.duckdb')!r}, '--period', '2000-01-01..2100-01-01']),\n"
        f"             run(['rules', 'run', '--db', {str(tmp_path / 'p.duckdb')!r}])]\n"
        "print(json.dumps({'codes': codes, 'pandas': 'pandas' in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", "import json\n" + probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.splitlines()[-1]) == {"codes": [0, 0, 0], "pandas": False}


@pytest.mark.slow
def test_the_installed_entry_point_runs() -> None:
    script = Path(sys.executable).parent / "finops"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("finops ")
    bad = subprocess.run(
        [str(script), "report", "--period", "soon", "--db", "/nonexistent/x.duckdb"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert "error:" in bad.stderr and "Traceback" not in bad.stderr
