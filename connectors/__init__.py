"""Connectors: one module per source, each satisfying `Connector`, registered by name in `CONNECTORS`.

A connector reads a source and yields polars frames in a canonical table's shape; it never touches the
database (only `finops.store` writes). File formats are read by `finops ingest`; remote sources are
`SyncConnector`s that `finops sync` plans and fetches period by period. Modules are imported only when
resolved, so `finops --help` pays for no cloud SDK.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from finops.errors import UsageError, did_you_mean

if TYPE_CHECKING:
    from datetime import date
    from pathlib import Path

    import polars as pl

    from finops.config import Option
    from finops.schema import Table


class Connector(Protocol):
    """What every connector module's `CONNECTOR` has: a name and the canonical table it feeds."""

    name: str
    table: Table


class SyncUnit(Protocol):
    """One billing period a syncable connector offers: `finops sync` skips it when `fingerprint` was loaded."""

    period: str  # YYYY-MM
    origin: str  # where it came from, for the load log (a manifest URI, an API query)
    fingerprint: str


class SyncConnector(Connector, Protocol):
    """A connector `finops sync` can run: it plans the periods to fetch, then fetches one at a time."""

    options: tuple[Option, ...]

    def plan(self, settings: dict[str, Any], today: date, periods: list[str] | None = None) -> list[Any]:
        """The periods to consider (default: the restatement window ending `today`), as SyncUnits."""
        ...

    def fetch(
        self, settings: dict[str, Any], unit: Any, source: str, workdir: Path, progress: Any = None
    ) -> Iterator[pl.DataFrame]:
        """Everything the unit's period holds, as frames of `table` rows; network I/O happens before it returns."""
        ...


# name -> module path; the module exposes `CONNECTOR`.
CONNECTORS: dict[str, str] = {
    "focus": "finops.connectors.focus_files",
    "aws-exports": "finops.connectors.aws_exports",
    "aws-cost-explorer": "finops.connectors.aws_cost_explorer",
    "aws-sagemaker": "finops.connectors.aws_sagemaker",
    "azure-cost-query": "finops.connectors.azure_cost_query",
    "azure-exports": "finops.connectors.azure_exports",
    "gcp-billing-export": "finops.connectors.gcp_billing_export",
    "gcp-catalog": "finops.connectors.gcp_catalog",
    "gcp-focus-view": "finops.connectors.gcp_focus_view",
    "gpu-spool": "finops.connectors.gpu_spool",
}


def resolve(name: str) -> Connector:
    """The connector registered under `name`; unknown names get a did-you-mean hint."""
    if name not in CONNECTORS:
        raise UsageError(f"unknown connector {name!r}", hint=did_you_mean(name, sorted(CONNECTORS)))
    module = importlib.import_module(CONNECTORS[name])
    connector: Connector = module.CONNECTOR
    return connector
