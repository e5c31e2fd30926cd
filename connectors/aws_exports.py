"""AWS Data Exports (FOCUS 1.0/1.2 or CUR 2.0, parquet or gzip CSV) from S3, read through each billing
period's manifest, never by listing keys: the manifest is what AWS says the period consists of right now.

    s3://BUCKET/PREFIX/EXPORT/metadata/BILLING_PERIOD=YYYY-MM/EXPORT-Manifest.json
    s3://BUCKET/PREFIX/EXPORT/data/BILLING_PERIOD=YYYY-MM/...

AWS restates a month for weeks after it closes, so every run looks at the open month and the ones before it
(`months`, default 2). A period whose manifest is byte-for-byte what was loaded last time is skipped.
Credentials come only from boto3's own chain (profile, SSO, environment, instance role).

A manifest with `"dataFiles": []` (a month restated to nothing) is a period with no files: sync empties it. A
manifest that cannot be read fails its own period only (the unit carries the error, `fetch` raises it), so the
other periods still commit. A month with no manifest is skipped, but when no period of the window has one, the
export is not where the settings say: that is an error naming the keys looked for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finops.config import Option
from finops.connectors.aws_common import aws_call, identity_check, session
from finops.errors import SourceError
from finops.periods import billing_periods_back
from finops.schema import COSTS

if TYPE_CHECKING:
    import polars as pl

    from finops.doctor import Check

Progress = Callable[[str, int, int], None]  # (what, bytes done, bytes in all)


@dataclass(frozen=True)
class PeriodExport:
    """One billing period of the export as its manifest describes it."""

    period: str  # YYYY-MM
    origin: str  # where the period's data was described: the manifest's S3 URI
    fingerprint: str
    data_keys: tuple[str, ...]
    error: SourceError | None = None  # the manifest could not be read: this period fails, the others go on


@dataclass(frozen=True)
class AwsExports:
    name: str = "aws-exports"
    table = COSTS
    options = (
        Option("export_arn", str, "the export's ARN: bucket, prefix, export and region are then looked up"),
        Option("bucket", str, "the S3 bucket the export is delivered to (unless export_arn is given)"),
        Option("export", str, "the export's name, as in the Data Exports console (unless export_arn is given)"),
        Option("prefix", str, "the S3 prefix set on the export", default=""),
        Option("region", str, "the bucket's region (default: boto3's)"),
        Option("profile", str, "an AWS profile name from your AWS config (default: boto3's chain)"),
        Option("months", int, "billing periods to look at each run: the current one and those before it", default=2),
    )

    def validate(self, settings: dict[str, Any]) -> str | None:
        """What is wrong with the settings as a whole, checked when finops.toml is read."""
        if not settings.get("export_arn") and not (settings.get("bucket") and settings.get("export")):
            return "give either export_arn, or bucket and export"
        return None

    def plan(self, settings: dict[str, Any], today: date, periods: list[str] | None = None) -> list[PeriodExport]:
        """The periods asked for (default: the restatement window ending today) that have a manifest, each with
        the fingerprint of that manifest. A manifest that cannot be read makes a unit that carries its error.
        No manifest for any of the periods is an error naming the keys looked for."""
        settings = resolve_export(settings)
        s3 = _client(settings)
        plans = []
        looked_for = []
        for period in periods or billing_periods_back(today, int(settings["months"])):
            key = _join(settings["prefix"], settings["export"], "metadata", f"BILLING_PERIOD={period}",
                        f"{settings['export']}-Manifest.json")  # fmt: skip
            origin = f"s3://{settings['bucket']}/{key}"
            body = _get(s3, settings["bucket"], key, missing_ok=True)
            if body is None:
                looked_for.append(origin)
                continue
            digest = hashlib.sha256(body).hexdigest()
            try:
                plans.append(PeriodExport(period, origin, digest, _data_keys(body, key, settings)))
            except SourceError as e:
                plans.append(PeriodExport(period, origin, digest, (), error=e))
        if not plans:
            raise _no_manifest(settings, looked_for)
        return plans

    def checks(self, source: str, settings: dict[str, Any], today: date) -> list[Check]:
        """Read-only: who boto3 is signed in as, whether the bucket is readable, which manifests exist."""
        from finops.doctor import Check

        identity, account = identity_check(source, settings)
        if account is None:
            return [identity]
        try:
            settings = resolve_export(settings)
            plans = self.plan(settings, today)
        except SourceError as e:
            return [identity, Check(source, "export", False, e.message, e.hint)]
        return [identity] + [
            Check(source, f"export {plan.period}", False, plan.error.message, plan.error.hint)
            if plan.error
            else Check(source, f"export {plan.period}", True, f"manifest lists {len(plan.data_keys)} file(s)")
            for plan in plans
        ]

    def fetch(
        self,
        settings: dict[str, Any],
        export: PeriodExport,
        source: str,
        workdir: Path,
        progress: Progress | None = None,
    ) -> Iterator[pl.DataFrame]:
        """Download the period's files into `workdir` now (before any database is opened, so the write lock is
        not held during downloads), and return the frames to read from them."""
        if export.error is not None:
            raise export.error  # this period's manifest is unreadable: it fails alone, nothing is written for it
        settings = resolve_export(settings)
        s3 = _client(settings)
        sizes = {key: _size(s3, settings["bucket"], key) for key in export.data_keys}
        total, done = sum(sizes.values()), 0
        files = []
        for index, key in enumerate(export.data_keys):
            local = workdir / f"{index:05d}-{Path(key).name}"
            _download(s3, settings["bucket"], key, local)
            done += sizes[key]
            if progress:
                progress(f"{export.period} {Path(key).name}", done, total)
            files.append(local)
        return _frames(files, source)


def _frames(files: list[Path], source: str) -> Iterator[pl.DataFrame]:
    from finops.connectors.focus_files import read_billing_batches

    for local in files:  # a FOCUS export or a CUR 2.0 export: the header says which
        yield from read_billing_batches(local, source=source)


CONNECTOR = AwsExports()


def _join(*parts: str) -> str:
    return "/".join(part.strip("/") for part in parts if part and part.strip("/"))


def _data_keys(body: bytes, manifest_key: str, settings: dict[str, Any]) -> tuple[str, ...]:
    """Data files named by the manifest: Data Exports write `dataFiles` (s3:// URIs); legacy CUR wrote
    `reportKeys` (keys in the same bucket). Anything else is refused with what was found."""
    try:
        manifest = json.loads(body)
    except json.JSONDecodeError as e:
        raise SourceError(f"s3://{settings['bucket']}/{manifest_key}: manifest is not JSON: {e.msg}") from e
    if not isinstance(manifest, dict):
        raise SourceError(f"s3://{settings['bucket']}/{manifest_key}: manifest is not a JSON object")
    # `"dataFiles": []` is a valid manifest: AWS restated the period to nothing, and sync empties it.
    entries = manifest["dataFiles"] if "dataFiles" in manifest else manifest.get("reportKeys")
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise SourceError(
            f"s3://{settings['bucket']}/{manifest_key}: manifest lists no data files "
            f"(keys found: {', '.join(sorted(manifest)) or 'none'})",
            hint="expected a Data Exports manifest with dataFiles",
        )
    keys = []
    for entry in entries:
        if entry.startswith("s3://"):
            bucket, _, key = entry[5:].partition("/")
            if bucket != settings["bucket"]:
                raise SourceError(f"{manifest_key}: data file {entry} is outside bucket {settings['bucket']}")
            keys.append(key)
        else:
            keys.append(entry)
    return tuple(keys)


def _no_manifest(settings: dict[str, Any], looked_for: list[str]) -> SourceError:
    where = f"s3://{settings['bucket']}/{_join(settings['prefix'], settings['export'])}"
    keys = "\n  ".join(looked_for)
    return SourceError(
        f"no manifest under {where} for {len(looked_for)} billing period(s); looked for:\n  {keys}",
        hint="check bucket, prefix and export in finops.toml against the export's S3 delivery options (the "
        "export name is case-sensitive); a new export delivers its first files within 24 hours; "
        "use --period YYYY-MM for older months",
    )


def resolve_export(settings: dict[str, Any], client: Any = None) -> dict[str, Any]:
    """Settings with bucket, prefix, export and region filled in from the export's definition when only its
    ARN is configured (Data Exports lives in us-east-1 whatever the bucket's region)."""
    arn = settings.get("export_arn")
    if not arn or (settings.get("bucket") and settings.get("export")):
        return settings
    exports = client or session({**settings, "region": "us-east-1"}).client("bcm-data-exports")
    answer = aws_call(f"Data Exports {arn}", lambda: exports.get_export(ExportArn=arn), "bcm-data-exports:GetExport")
    export = answer["Export"]
    destination = export["DestinationConfigurations"]["S3Destination"]
    return {
        **settings,
        "bucket": destination["S3Bucket"],
        "prefix": destination.get("S3Prefix", ""),
        "export": export["Name"],
        "region": settings.get("region") or destination.get("S3Region"),
    }


def _client(settings: dict[str, Any]) -> Any:
    return session(settings).client("s3")


S3_READ = "s3:GetObject (and s3:ListBucket) on the export's bucket"


def _get(s3: Any, bucket: str, key: str, *, missing_ok: bool = False) -> bytes | None:
    from botocore.exceptions import ClientError

    def read() -> bytes | None:
        try:
            body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as e:
            if missing_ok and e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None  # no manifest for this period: no data, not an error
            raise
        return body

    return aws_call(f"s3://{bucket}/{key}", read, S3_READ)


def _size(s3: Any, bucket: str, key: str) -> int:
    return int(
        aws_call(f"s3://{bucket}/{key}", lambda: s3.head_object(Bucket=bucket, Key=key)["ContentLength"], S3_READ)
    )


def _download(s3: Any, bucket: str, key: str, local: Path) -> None:
    aws_call(f"s3://{bucket}/{key}", lambda: s3.download_file(bucket, key, str(local)), S3_READ)
