"""Connectors: one module per source, each satisfying `Connector`, registered by name in `CONNECTORS`.

A connector reads a source and yields polars frames in a canonical table's shape; it never touches the
database (only `finops.store` writes). Modules are imported only when resolved, so `finops --help` pays for no
cloud SDK.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from finops.errors import UsageError, did_you_mean

if TYPE_CHECKING:
    import polars as pl

    from finops.schema import Table


class Connector(Protocol):
    """The contract every connector module satisfies."""

    name: str
    table: Table

    def fetch(self, settings: dict[str, object]) -> Iterator[pl.DataFrame]:
        """Yield frames with the columns of `table` (missing columns load as NULL)."""
        ...


# name -> module path; the module exposes `CONNECTOR`.
CONNECTORS: dict[str, str] = {
    "focus": "finops.connectors.focus_files",
    "aws-exports": "finops.connectors.aws_exports",
}


def resolve(name: str) -> Connector:
    """The connector registered under `name`; unknown names get a did-you-mean hint."""
    if name not in CONNECTORS:
        raise UsageError(f"unknown connector {name!r}", hint=did_you_mean(name, sorted(CONNECTORS)))
    module = importlib.import_module(CONNECTORS[name])
    connector: Connector = module.CONNECTOR
    return connector
