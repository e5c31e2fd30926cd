"""The wheel installs everything under `finops/` (connectors, rules and sample data included) and nothing
generic at the top of site-packages, as the distribution `gpu-finops` (`finops` on the index is another project)."""

from __future__ import annotations

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

