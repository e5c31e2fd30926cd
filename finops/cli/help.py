"""Help as written: plain metavars (`PATH...`, `TEXT`, `[table|json]`), never typer's `<list[Path]>` or `<str>`.

Help is rendered by click, not rich (`rich_markup_mode=None` on the app), so `[budgets]` in a docstring shows as
written and paragraphs reflow to the terminal; a block that must keep its lines starts with a `\\b` line.
"""

from __future__ import annotations

from typing import Any, get_args

from typer.core import TyperArgument, TyperGroup, TyperOption


class _PlainArgument(TyperArgument):
    """An argument shown by its metavar alone: `PATH...`, not `paths... <list[Path]>` nor `{paths}...`."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        name = self.metavar or self.name or ""
        return name if self.required else f"[{name}]"


def _type_metavar(param: TyperOption) -> str:
    kind = param.type_descriptor
    if kind.is_choice:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in kind.choices or ()) + "]"
    if kind.is_path:
        return "PATH"
    annotation = get_args(kind.annotation)[0] if kind.is_list else kind.annotation
    return {int: "INTEGER", float: "NUMBER"}.get(annotation, "TEXT")


def plain_metavars(command: Any) -> Any:
    """Give every option that takes a value, and every argument, a click-style metavar (in place)."""
    for param in command.params:
        if param.metavar is not None:
            continue
        if isinstance(param, TyperOption) and not (param.is_flag or param.count):
            param.metavar = _type_metavar(param)
        elif isinstance(param, TyperArgument):
            name = (param.name or "value").upper()
            if param.nargs != 1:  # `paths` -> `PATH...`
                name = (name[:-1] if name.endswith("S") else name) + "..."
            param.metavar = name
            param.__class__ = _PlainArgument
    if isinstance(command, TyperGroup):  # typer carries its own click
        for sub in command.commands.values():
            plain_metavars(sub)
    return command
