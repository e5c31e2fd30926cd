"""`--help` of every command as written: `[budgets]` and the like shown, plain metavars, paragraphs that reflow."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise

import pytest
import typer
from typer.core import TyperGroup

from finops.cli import app

WIDTH = 80
SECTION = re.compile(r"\[\[?[a-z][a-z_.]*(?:\.[A-Z]+)?\]\]?")  # [budgets], [budgets.NAME], [[inference.targets]]


def _commands(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    yield path, command
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def _written(command: object) -> str:
    """Everything the source says about a command: its docstring and each parameter's help."""
    texts = [getattr(command, "help", None) or ""]
    texts += [getattr(p, "help", None) or "" for p in getattr(command, "params", [])]
    return "\n".join(texts)


def test_every_command_is_covered() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "budget check", "ingest", "report", "rules run", "alerts", "shutdown plan", "gpu ingest"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) or "finops" for p, _ in COMMANDS])
def test_help_shows_what_the_source_says(cli, monkeypatch: pytest.MonkeyPatch, path: tuple[str, ...],
                                         command: object) -> None:  # fmt: skip
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    result = cli(*path, "--help")
    assert result.code == 0, result.err
    text = result.out
    flat = " ".join(text.split())  # a section name may be wrapped at its hyphen-free end, never split inside
    for section in SECTION.findall(_written(command)):
        assert section in flat, f"{section} from the source is missing in `{' '.join(path)} --help`"
    for typed in ("<bool>", "<list", "<str>", "<path>", "<int"):
        assert typed not in text, f"{typed} in `{' '.join(path)} --help`"
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    # Paragraphs reflow: inside a paragraph of the description, a line ends only where the next word would not fit.
    description = text.split("\nArguments:")[0].split("\nOptions:")[0].split("\n\n")[1:]
    for paragraph in description:
        lines = paragraph.splitlines()
        for line, after in pairwise(lines):
            if not after.strip() or after.startswith(" " * 4):  # a kept block (\b) or an indented list
                continue
            assert len(line) + 1 + len(after.split()[0]) > WIDTH - 2, (
                f"ragged line in `{' '.join(path)} --help`: {line!r}"
            )
