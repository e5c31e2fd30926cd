"""Azure Cost Management exports (FocusCost, ActualCost or AmortizedCost; CSV, gzip CSV or parquet) from Blob
Storage, read through each run's `manifest.json`, never by listing data files: the manifest is what Cost
Management says the run consists of.

    CONTAINER/PATH/YYYYMMDD-YYYYMMDD/RUN-ID/manifest.json      (PATH: the export's folder, with its name)
    CONTAINER/PATH/YYYYMMDD-YYYYMMDD/RUN-ID/part_0_0001.csv    (as the manifest's `blobs` list them)

An export that runs daily writes a new run of the open month each day; the newest run of a period (by
`runInfo.submittedTime`) is the period. Azure restates for weeks, so every sync looks at the open month and the one
before (`months`). Credentials: `DefaultAzureCredential` with `account_url`, or a connection string from the
environment variable named in `connection_string_env` (never from the file).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finops.config import Option
from finops.errors import SourceError
from finops.periods import billing_periods_back
from finops.schema import COSTS

if TYPE_CHECKING:
    import polars as pl

    from finops.doctor import Check

Progress = Callable[[str, int, int], None]
_RUN = re.compile(r"(?:^|/)(\d{8})-(\d{8})/[^/]+/manifest\.json$")
DATASETS = {"focuscost": "focus", "actualcost": "actual", "amortizedcost": "amortized", "usage": "actual"}


@dataclass(frozen=True)
class RunExport:
    period: str  # YYYY-MM
    origin: str  # the manifest's blob URL
    fingerprint: str
    dataset: str  # focus | actual | amortized
    blobs: tuple[str, ...]


@dataclass(frozen=True)
class AzureExports:
    name: str = "azure-exports"
    table = COSTS
    options = (
        Option("container", str, "the storage container the export writes to", required=True),
        Option("path", str, "the export's folder in the container (root folder path and export name)", required=True),
        Option("account_url", str, "https://ACCOUNT.blob.core.windows.net (signed in with DefaultAzureCredential)"),
        Option("connection_string_env", str, "or: the environment variable holding a storage connection string"),
        Option("months", int, "billing periods to look at each run: the current one and those before it", default=2),
    )

    def validate(self, settings: dict[str, Any]) -> str | None:
        if not settings.get("account_url") and not settings.get("connection_string_env"):
            return "give account_url (DefaultAzureCredential) or connection_string_env"
        return None

    def plan(self, settings: dict[str, Any], today: date, periods: list[str] | None = None) -> list[RunExport]:
        container = _container(settings)
        wanted = set(periods or billing_periods_back(today, int(settings["months"])))
        prefix = settings["path"].strip("/") + "/"
        newest: dict[str, tuple[str, bytes, str]] = {}  # period -> (submitted, manifest bytes, blob name)
        for blob in _call("list the export's runs", lambda: list(container.list_blobs(name_starts_with=prefix))):
            match = _RUN.search(blob.name)
            if not match or f"{match[1][:4]}-{match[1][4:6]}" not in wanted:
                continue
            period = f"{match[1][:4]}-{match[1][4:6]}"
            body = _download(container, blob.name)
            submitted = str(_manifest(body, blob.name).get("runInfo", {}).get("submittedTime", ""))
            if period not in newest or submitted > newest[period][0]:
                newest[period] = (submitted, body, blob.name)
        plans = []
        for period, (_submitted, body, name) in sorted(newest.items()):
            manifest = _manifest(body, name)
            kind = str(manifest.get("exportConfig", {}).get("type", "FocusCost")).lower()
            if kind not in DATASETS:
                raise SourceError(f"{name}: export type {kind!r} is not a cost dataset",
                                  hint="export FocusCost (best), ActualCost or AmortizedCost")  # fmt: skip
            blobs = tuple(str(b["blobName"]) for b in manifest.get("blobs", []))
            plans.append(RunExport(period, f"{container.url}/{name}", hashlib.sha256(body).hexdigest(),
                                   DATASETS[kind], blobs))  # fmt: skip
        return plans

    def fetch(self, settings: dict[str, Any], unit: RunExport, source: str, workdir: Path,
              progress: Progress | None = None) -> Iterator[pl.DataFrame]:  # fmt: skip
        """Download the run's files now (before the store is opened), then read them."""
        container = _container(settings)
        files = []
        for index, name in enumerate(unit.blobs):
            local = workdir / f"{index:05d}-{Path(name).name}"
            local.write_bytes(_download(container, name))
            if progress:
                progress(f"{unit.period} {Path(name).name}", index + 1, len(unit.blobs))
            files.append(local)
        return _frames(files, unit.dataset, source)

    def checks(self, source: str, settings: dict[str, Any], today: date) -> list[Check]:
        from finops.doctor import plan_checks

        empty = (f"no run manifest under {settings['path']} for the last {settings['months']} month(s)",
                 "check container and path in finops.toml")  # fmt: skip
        return plan_checks(source, "export", lambda: self.plan(settings, today),
                           lambda p: f"{p.dataset} run, {len(p.blobs)} file(s)", empty)  # fmt: skip


def _frames(files: list[Path], dataset: str, source: str) -> Iterator[pl.DataFrame]:
    from finops.connectors.azure_cost_details import read_cost_details_batches
    from finops.connectors.focus_files import read_focus_batches

    for local in files:
        if dataset == "focus":
            yield from read_focus_batches(local, source=source)
        else:
            yield from read_cost_details_batches(local, dataset=dataset, source=source)


def _container(settings: dict[str, Any]) -> Any:
    try:
        from azure.storage.blob import BlobServiceClient
    except ImportError as e:
        raise SourceError(
            "the Azure exports connector needs azure-storage-blob", hint="pip install 'finops[azure]'"
        ) from e
    variable = settings.get("connection_string_env")
    if variable:
        secret = os.environ.get(variable)
        if not secret:
            raise SourceError(f"${variable} is not set", hint="export the storage connection string in it")
        service = BlobServiceClient.from_connection_string(secret)
    else:
        from azure.identity import DefaultAzureCredential

        service = BlobServiceClient(settings["account_url"], credential=DefaultAzureCredential())
    return service.get_container_client(settings["container"])


def _download(container: Any, name: str) -> bytes:
    data: bytes = _call(f"download {name}", lambda: container.download_blob(name).readall())
    return data


def _manifest(body: bytes, name: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError as e:
        raise SourceError(f"{name}: not a manifest (not JSON): {e}") from e
    if not isinstance(document, dict) or not isinstance(document.get("blobs", []), list):
        raise SourceError(f"{name}: not a Cost Management export manifest (no blobs list)")
    return document


def _call(what: str, call: Callable[[], Any]) -> Any:
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

    try:
        return call()
    except ResourceNotFoundError as e:
        raise SourceError(f"Azure Blob Storage: {what}: not found", hint="check container and path") from e
    except ClientAuthenticationError as e:
        hint = "DefaultAzureCredential: az login, a managed identity, or AZURE_* settings"
        raise SourceError(f"Azure Blob Storage: {what}: the credential was refused", hint=hint) from e
    except HttpResponseError as e:
        if e.status_code == 403:
            raise SourceError(f"Azure Blob Storage: {what}: access denied",
                              hint="the identity needs Storage Blob Data Reader on the container") from e  # fmt: skip
        raise SourceError(f"Azure Blob Storage: {what}: HTTP {e.status_code}: {e.reason}") from e


CONNECTOR = AzureExports()
