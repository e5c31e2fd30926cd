"""The wheel installs everything under `finops/` (connectors, rules and sample data included) and nothing
generic at the top of site-packages, as the distribution `gpu-finops` (`finops` on the index is another project);
and the README's quick start installs only the product, its test command the dev tools, which `.ci/run` runs
twice."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import finops

ROOT = Path(__file__).parent.parent
DISTRIBUTION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
DEV_TOOLS = {"pytest", "moto", "playwright", "mypy", "ruff", "hypothesis", "pytest-xdist"}


@pytest.mark.slow
def test_wheel_layout(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("*.whl"))
    assert wheel.name.startswith(f"gpu_finops-{finops.__version__}-")  # the distribution, in the wheel's spelling
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"finops"}
    with zipfile.ZipFile(wheel) as archive:
        meta = archive.read(f"gpu_finops-{finops.__version__}.dist-info/METADATA").decode()
        entry_points = archive.read(f"gpu_finops-{finops.__version__}.dist-info/entry_points.txt").decode()
    assert "Name: gpu-finops\n" in meta
    assert "finops = finops.cli:main" in entry_points  # the command stays `finops`
    for expected in (
        "finops/connectors/focus_files.py",
        "finops/rules/__init__.py",
        "finops/rules/gpu001_idle.toml",
        "finops/sample_data/costs_aws.parquet",
        "finops/schemas/report.v1.json",
        "finops/data/gpu_instances.csv",
        "finops/py.typed",
    ):
        assert expected in names, expected
    assert not any(name.startswith(("connectors/", "rules/", "sample_data/", "tests/")) for name in names)


def test_the_installed_distribution_is_the_one_pyproject_names() -> None:
    assert DISTRIBUTION == "gpu-finops"
    dist = metadata.distribution(DISTRIBUTION)
    assert dist.version == finops.__version__
    assert [(e.name, e.value) for e in dist.entry_points if e.group == "console_scripts"] == [
        ("finops", "finops.cli:main")
    ]


def _locked_packages(*groups: str) -> set[str]:
    """The packages `uv run` installs with these dependency groups, as uv.lock resolves them (uv's own answer)."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    args = [uv, "export", "--frozen", "--no-hashes", "--no-header", "--no-emit-project", "--no-annotate"]
    out = subprocess.run([*args, *(f"--group={g}" for g in groups)], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout  # fmt: skip
    return {re.split(r"[=<>;\s\[]", line, maxsplit=1)[0].lower() for line in out.splitlines() if line[:1].isalnum()}


def test_plain_uv_run_installs_the_product_only_and_the_dev_group_the_tools() -> None:
    product = _locked_packages()
    assert {"duckdb", "polars", "typer", "rich"} <= product
    assert not DEV_TOOLS & product, sorted(DEV_TOOLS & product)
    assert len(product) < 40, sorted(product)  # the product's own dependencies, not the test stack's 120-odd
    assert _locked_packages("dev") >= DEV_TOOLS


def _quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_quick_start_is_a_demo_report_and_the_tests_which_ci_runs_twice() -> None:
    demo, tests = _quick_start()
    assert shlex.split(demo) == ["uv", "run", "finops", "report"]
    words = shlex.split(tests)
    assert words[:2] == ["uv", "run"] and words[-1] == "pytest" and "dev" in words
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = [shlex.split(line, comments=True) for line in ci if line.startswith("uv run")]
    runs = [command for command in commands if [w for w in command if w != "--locked"] == words]
    assert len(runs) == 2, "`.ci/run` runs the README's test command twice (the second run catches flaky tests)"
