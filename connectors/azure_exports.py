"""Azure Cost Management exports (FocusCost, ActualCost or AmortizedCost; CSV, gzip CSV or parquet) from Blob
Storage, read through each run's `manifest.json`, never by listing data files: the manifest is what Cost
Management says the run consists of.

    CONTAINER/PATH/YYYYMMDD-YYYYMMDD/RUN-ID/manifest.json      (PATH: the export's folder, with its name)
    CONTAINER/PATH/YYYYMMDD-YYYYMMDD/RUN-ID/part_0_0001.csv    (as the manifest's `blobs` list them)

An export that runs daily writes a new run of the open month each day; the newest run of a period (by
`runInfo.submittedTime`) is the period. Azure restates for weeks, so every sync looks at the open month and the one
before (`months`). A run whose manifest lists no files, or only files without rows, empties its month. A period
whose manifest cannot be read (or names a dataset that is not costs) fails on its own; the other periods still
load. A path with no run manifest at all is an error naming what was looked for. Credentials:
`DefaultAzureCredential` with `account_url`, or a connection string from the environment variable named in
`connection_string_env` (never from the file).
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
# Export types that are not costs, as the refusal names them.
OTHER_TYPES = {"pricesheet": "a price sheet", "reservationdetails": "reservation details",
               "reservationrecommendations": "reservation recommendations",
               "reservationtransactions": "reservation transactions"}  # fmt: skip


@dataclass(frozen=True)
class RunExport:
    period: str  # YYYY-MM
    origin: str  # the manifest's blob URL
    fingerprint: str
    dataset: str  # focus | actual | amortized
    blobs: tuple[str, ...]
    problem: SourceError | None = None  # this period cannot be read: its sync fails, the other periods' do not


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
        names = [str(b.name) for b in _call("list the export's runs", lambda: list(container.list_blobs(
            name_starts_with=prefix)))]  # fmt: skip
        runs: dict[str, list[str]] = {}  # period -> its runs' manifests
        for name in names:
            match = _RUN.search(name)
            if match:
                runs.setdefault(f"{match[1][:4]}-{match[1][4:6]}", []).append(name)
        if not runs:
            raise _no_manifest(settings, prefix, names)
        return [_period_plan(container, period, manifests)
                for period, manifests in sorted(runs.items()) if period in wanted]  # fmt: skip

    def fetch(self, settings: dict[str, Any], unit: RunExport, source: str, workdir: Path,
              progress: Progress | None = None) -> Iterator[pl.DataFrame]:  # fmt: skip
        """Download the run's files now (before the store is opened), then read them."""
        if unit.problem:
            raise unit.problem
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
        from finops.doctor import Check

        try:
            plans = self.plan(settings, today)
        except SourceError as e:
            return [Check(source, "export", False, e.message, e.hint)]
        if not plans:
            return [Check(source, "export", False, f"no run manifest under {settings['path']} for the last "
                          f"{settings['months']} month(s)", "check container and path in finops.toml")]  # fmt: skip
        return [Check(source, f"export {p.period}", False, p.problem.message, p.problem.hint) if p.problem
                else Check(source, f"export {p.period}", True, f"{p.dataset} run, {len(p.blobs)} file(s)")
                for p in plans]  # fmt: skip


def _period_plan(container: Any, period: str, manifests: list[str]) -> RunExport:
    """The newest run of a period, by its manifest's submittedTime. A manifest that cannot be read leaves the
    newest run unknown, so the period fails (alone) rather than load what may be an old run."""
    bodies = {name: _download(container, name) for name in sorted(manifests)}
    fingerprint = hashlib.sha256(b"".join(bodies.values())).hexdigest()
    origin = f"{container.url}/{sorted(manifests)[-1]}"
    try:
        documents = {name: _manifest(body, name) for name, body in bodies.items()}
    except SourceError as e:
        return RunExport(period, origin, fingerprint, "actual", (), problem=e)
    name = max(documents, key=lambda n: (str(documents[n].get("runInfo", {}).get("submittedTime", "")), n))
    manifest, body = documents[name], bodies[name]
    kind = str(manifest.get("exportConfig", {}).get("type", "FocusCost"))
    problem = None
    if kind.lower() not in DATASETS:
        what = OTHER_TYPES.get(kind.lower(), f"export type {kind!r}")
        problem = SourceError(f"{name}: {what}, not cost details: finops reads costs only",
                              hint="export FocusCost (best), ActualCost or AmortizedCost to this path")  # fmt: skip
    blobs = tuple(str(b["blobName"]) for b in manifest["blobs"])
    return RunExport(period, f"{container.url}/{name}", hashlib.sha256(body).hexdigest(),
                     DATASETS.get(kind.lower(), "actual"), blobs, problem)  # fmt: skip


def _no_manifest(settings: dict[str, Any], prefix: str, names: list[str]) -> SourceError:
    """No run at all: say where finops looked, and what it found there instead."""
    where = f"container {settings['container']!r}, {prefix}YYYYMMDD-YYYYMMDD/RUN-ID/manifest.json"
    if not names:
        return SourceError(f"no Cost Management export run found: nothing under {where}",
                           hint="check container and path (the export's folder, ending with its name)")  # fmt: skip
    found = f"{len(names)} other file(s) there, e.g. {names[0]}"
    return SourceError(f"no Cost Management export run found: no manifest.json under {where} ({found})",
                       hint="exports created before 2024 write no manifest: create the export again in Cost "
                       "Management (Exports), or load its files with `finops ingest`")  # fmt: skip


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
            "the Azure exports connector needs azure-storage-blob", hint="pip install 'gpu-finops[azure]'"
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
        raise SourceError(
            f"{name}: not a manifest (not JSON): {e}",
            hint="the export run may have failed; run the export again in Cost Management",
        ) from e
    if not isinstance(document, dict) or not isinstance(document.get("blobs"), list):
        raise SourceError(f"{name}: not a Cost Management export manifest (no blobs list)",
                          hint="the export run may have failed; run the export again in Cost Management")  # fmt: skip
    if not all(isinstance(b, dict) and isinstance(b.get("blobName"), str) for b in document["blobs"]):
        raise SourceError(f"{name}: a blobs entry has no blobName", hint="run the export again in Cost Management")
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
