"""Every install line the project shows a person names its own distribution.

On the package index `finops` is an unrelated project: a doc, CI example or error hint that says `pip install
"finops[aws]"` installs a stranger's code next to billing credentials. The distribution is `[project] name` in
pyproject.toml (the command and the import package stay `finops`); this test reads every install line in the
README, docs/, .ci/run, the scripts and benchmarks, and the package's own source (the hints its errors print) and
checks what each one installs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
DISTRIBUTION = PYPROJECT["project"]["name"]
EXTRAS = set(PYPROJECT["project"]["optional-dependencies"])
# Tools that the README and .ci/run install beside finops, by their own names: not finops, never under its name.
OTHERS = {"uv", "focus-validator", "pyarrow"}

COMMAND = re.compile(r"\b(?:uv pip install|pip install|uv add|pipx install|uv tool install)\b")
# A target: a quoted requirement or a bare one (name, extras, version); anything else ends the command (a closing
# backtick or parenthesis, a comment, prose).
TOKEN = re.compile(r"""\s+('[^'\s]+'|"[^"\s]+"|[^\s'"`()#;,]+)""")
REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*|\.)(?:\[(?P<extras>[^\]]*)\])?(?P<version>[<>=!~].*)?$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def _sources() -> list[Path]:
    files = [ROOT / "README.md", ROOT / ".ci" / "run"]
    for folder in ("docs", "finops", "connectors", "rules", "sample_data", "scripts", "benchmarks"):
        files += [p for p in sorted((ROOT / folder).rglob("*")) if p.is_file() and p.suffix not in {".parquet", ".pyc"}]
    return files


def install_lines(text: str) -> list[tuple[int, str, list[str]]]:
    """(line number, the line, its targets) for each install command in `text`; options (`-U`, `--quiet`,
    `--python PATH`) are skipped."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for command in COMMAND.finditer(line):
            targets: list[str] = []
            # The command ends at a shell operator (`2>/dev/null`, `||`, `&&`, `;`, `|`).
            rest, skip_value = re.split(r"\s+(?:\d*>|<|\|\|?|&&?|;)", line[command.end() :], maxsplit=1)[0], False
            while match := TOKEN.match(rest):
                token, rest = match.group(1).strip("'\""), rest[match.end() :]
                if skip_value:
                    skip_value = False
                elif token.startswith("-"):
                    skip_value = token in {"--python", "-p", "--index-url", "--extra-index-url", "-i", "-r", "-c"}
                else:
                    targets.append(token)
            found.append((number, line.strip(), targets))
    return found


def problems(targets: list[str]) -> list[str]:
    """What is wrong with one command's targets: empty when it installs this distribution (with extras it
    declares), a clone (`.`), or one of the other tools by its own name."""
    if not targets:
        return ["installs nothing this test can read"]
    wrong = []
    for target in targets:
        parsed = REQUIREMENT.match(target)
        if parsed is None:
            wrong.append(f"{target!r} is not a requirement")
            continue
        name, extras = parsed["name"], {e.strip() for e in (parsed["extras"] or "").split(",") if e.strip()}
        if _normalise(name) == "finops":
            wrong.append(f"{target!r} names 'finops', an unrelated project on the package index")
        elif name == "." or _normalise(name) == _normalise(DISTRIBUTION):
            wrong += [f"{target!r}: no extra {extra!r} in pyproject.toml" for extra in sorted(extras - EXTRAS)]
        elif _normalise(name) not in OTHERS:
            wrong.append(f"{target!r} names {name!r}, not the distribution {DISTRIBUTION!r}")
    return wrong


def test_the_distribution_is_not_the_unrelated_finops_on_the_index() -> None:
    assert _normalise(DISTRIBUTION) != "finops"
    assert PYPROJECT["project"]["scripts"] == {"finops": "finops.cli:main"}  # the command stays `finops`


def test_every_install_line_names_the_distribution() -> None:
    seen: dict[str, int] = {}
    wrong = []
    for path in _sources():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line, targets in install_lines(text):
            where = f"{path.relative_to(ROOT)}:{number}"
            seen[where] = len(targets)
            wrong += [f"{where}: {problem}\n    {line}" for problem in problems(targets)]
    assert not wrong, "\n".join(wrong)
    # The lines this test exists for were found: the CI examples, the README's extras and the code's hints.
    for where in ("docs/ci/github-actions.yml", "docs/ci/gitlab-ci.yml", "README.md", "connectors/aws_common.py",
                  "connectors/nvml.py", "finops/spark_engine.py", "finops/store.py"):  # fmt: skip
        assert any(key.startswith(where + ":") for key in seen), where
    assert len(seen) >= 20


@pytest.mark.parametrize(
    ("line", "targets"),
    [
        ('      - run: pip install "finops[aws]"', ["finops[aws]"]),
        ("hint=\"pip install 'finops[spark]' (pyspark[connect])\"", ["finops[spark]"]),
        ("upgrade finops (pip install -U finops) or", ["finops"]),
        (
            'uv pip install -q --python build/venv/bin/python "focus-validator==2.2.1" "pyarrow<18"',
            ["focus-validator==2.2.1", "pyarrow<18"],
        ),
        ("(`pip install uv`), in a clone", ["uv"]),
        ("`pipx install finops` or `uv tool install finops`", ["finops"]),
    ],
)
def test_the_reader_finds_each_target(line: str, targets: list[str]) -> None:
    assert install_lines(line)[0][2] == targets


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        (["finops[aws]"], "names 'finops'"),  # the unrelated project on the index
        (["finops"], "names 'finops'"),
        (["finops_cli"], "names 'finops_cli'"),
        ([f"{DISTRIBUTION}[nosuch]"], "no extra 'nosuch'"),
        ([], "installs nothing"),
    ],
)
def test_a_wrong_line_is_named(targets: list[str], expected: str) -> None:
    assert expected in " ".join(problems(targets))


def test_the_right_lines_pass() -> None:
    assert problems([f"{DISTRIBUTION}[aws]", f"{DISTRIBUTION}[gcp,azure]", DISTRIBUTION, ".", ".[spark]", "uv"]) == []
