"""Run strict mypy over the package as it installs.

`connectors/` and `rules/` install as `finops.connectors` and `finops.rules` (setuptools package-dir), which
mypy cannot see from the source tree. This mirrors the installed layout with symlinks under build/ and runs
mypy there, printing paths as they are in the repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = {"finops": ROOT / "finops", "finops/connectors": ROOT / "connectors", "finops/rules": ROOT / "rules"}


def mirror(stage: Path) -> None:
    shutil.rmtree(stage, ignore_errors=True)
    for target, source in LAYOUT.items():
        for path in source.rglob("*.py"):
            link = stage / target / path.relative_to(source)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path)
        typed = source / "py.typed"
        if typed.exists():
            (stage / target / "py.typed").symlink_to(typed)


def main() -> int:
    stage = ROOT / "build" / "typecheck"
    mirror(stage)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "finops"],
        cwd=stage, capture_output=True, text=True,
    )  # fmt: skip
    output = result.stdout + result.stderr
    for target, source in sorted(LAYOUT.items(), key=lambda item: -len(item[0])):
        output = output.replace(f"{target}/", f"{source.relative_to(ROOT)}/")
    print(output, end="")
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
