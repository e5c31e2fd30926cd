"""The wheel installs everything under `finops/` (connectors, rules and sample data included) and nothing
generic at the top of site-packages."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_wheel_layout(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("finops-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"finops"}
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
