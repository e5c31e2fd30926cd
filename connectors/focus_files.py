"""FOCUS files (CSV, gzip CSV, parquet; FOCUS 1.0 to 1.4) into the `costs` table.

What real files do, and this handles: literal `NULL` tokens, UTF-8 BOMs, timestamps with and without `T`/`Z`,
US dates from spreadsheets, 12-digit account ids (read as text, never inferred), `$1,234.00` money in the
spec's own examples, wrong-case enumerations (`Usage-based`), 1.3's renamed provider columns, and columns
that are not FOCUS (kept in `x_Extras`, nothing dropped).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from finops.coerce import ROW, coerce
from finops.errors import InputError, UsageError
from finops.schema import COSTS, FOCUS_COLUMNS

SUFFIXES = (".csv", ".csv.gz", ".parquet")
NULL_TOKENS = ["", "NULL", "null", "(null)"]
REQUIRED = (
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BilledCost",
    "EffectiveCost",
)
# FOCUS 1.3 deprecated ProviderName/PublisherName for these; new names win when a file has both.
RENAMES = {"ServiceProviderName": "ProviderName", "HostProviderName": "PublisherName"}
# Columns that only exist from a version on: the newest one present names the file's version.
VERSION_MARKERS = (
    ("1.3", ("ServiceProviderName", "HostProviderName")),
    ("1.2", ("InvoiceId", "BillingAccountType", "SubAccountType", "PricingCurrency")),
    ("1.1", ("CapacityReservationId", "CommitmentDiscountQuantity", "ServiceSubcategory", "SkuMeter")),
)
ENUMS = {
    "ChargeCategory": ("Usage", "Purchase", "Tax", "Credit", "Adjustment"),
    "ChargeClass": ("Correction",),
    "ChargeFrequency": ("One-Time", "Recurring", "Usage-Based"),
    "PricingCategory": ("Standard", "Dynamic", "Committed", "Other"),
    "CommitmentDiscountCategory": ("Spend", "Usage"),
    "CommitmentDiscountStatus": ("Used", "Unused"),
    "CapacityReservationStatus": ("Used", "Unused"),
}
_CANONICAL = {name.lower(): name for name, _ in FOCUS_COLUMNS}
# Instance types as AWS, GCP and Azure spell them, for GPU pricing when SkuPriceDetails lacks InstanceType.
_INSTANCE_TYPE = (
    r"\b([a-z][a-z0-9]*\d[a-z0-9-]*\.(?:\d*x?large|metal|medium|small|micro|nano))\b"
    r"|\b([a-z]\d[a-z]?-(?:highgpu|megagpu|ultragpu|edgegpu|standard|highmem|highcpu)-\d+g?)\b"
    r"|\b(Standard_N[A-Za-z0-9_]+)\b"
)


@dataclass(frozen=True)
class FocusFiles:
    """Connector: settings are {"paths": [Path, ...], "source": str | None}."""

    name: str = "focus"
    table = COSTS

    def fetch(self, settings: dict[str, object]) -> Iterator[pl.DataFrame]:
        paths = settings["paths"]
        source = settings.get("source")
        assert isinstance(paths, list)
        for path in expand_paths(paths):
            yield read_focus_file(path, source=source if isinstance(source, str) else None)


CONNECTOR = FocusFiles()


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Files as given, and the FOCUS files inside any folder, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES)))
        elif path.exists():
            found.append(path)
        else:
            raise UsageError(f"{path}: no such file or folder")
    if not found:
        raise UsageError(
            "no FOCUS files found",
            hint=f"give .csv, .csv.gz or .parquet files ({', '.join(map(str, paths))})",
        )
    return found


def read_focus_file(path: Path, *, source: str | None = None) -> pl.DataFrame:
    """One file as a frame of `costs` rows, or an InputError naming the file, row and column."""
    raw = _read_raw(path)
    original = {name.strip().lstrip("\ufeff") for name in raw.columns}
    version = next((v for v, markers in VERSION_MARKERS if original & set(markers)), "1.0")
    raw = _canonical_names(raw, path)
    missing = [name for name in REQUIRED if name not in raw.columns]
    if missing:
        raise InputError(
            f"{path}: not a FOCUS file: missing column(s) {', '.join(missing)}",
            hint="FOCUS 1.0-1.4 Cost and Usage files need at least " + ", ".join(REQUIRED),
        )
    known = [name for name in raw.columns if name in _CANONICAL.values()]
    extras = [name for name in raw.columns if name not in known and name != ROW]
    frame = coerce(raw.select([ROW, *known]), COSTS, file=str(path))
    for name in ("BillingPeriodStart", "ChargePeriodStart", "BilledCost", "EffectiveCost"):
        nulls = frame.get_column(name).is_null()
        if nulls.any():
            row = frame.get_column(ROW)[int(nulls.arg_true()[0])]
            raise InputError(f"{path}: row {row}, column {name}: empty, but FOCUS requires a value")
    frame = frame.with_columns(
        _enum_case(frame),
        x_Extras=pl.struct(raw.select(extras)).struct.json_encode() if extras else pl.lit(None, pl.String),
        x_FocusVersion=pl.lit(version),
    )
    frame = frame.with_columns(_instance_type(frame), x_Source=_source(frame, source))
    return frame.drop(ROW)


def _read_raw(path: Path) -> pl.DataFrame:
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            frame = pl.read_parquet(path)
        elif name.endswith((".csv", ".csv.gz")):
            # Every column as text: type inference turns account ids into integers and loses zeros.
            frame = pl.read_csv(path, infer_schema=False, null_values=NULL_TOKENS, raise_if_empty=False)
        else:
            raise InputError(f"{path}: unknown file type", hint="FOCUS files are .csv, .csv.gz or .parquet")
    except (pl.exceptions.PolarsError, OSError) as e:
        kind = "parquet" if name.endswith(".parquet") else "CSV"
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(
            f"{path}: cannot be read as {kind}: {first_line}",
            hint="the file may be truncated or not what its name says; export it again",
        ) from e
    # Blank lines (the spec's examples have CRLF blank lines between rows) are not rows.
    frame = frame.with_row_index(ROW, offset=1)
    data = [name for name in frame.columns if name != ROW]
    return frame.filter(~pl.all_horizontal(pl.col(data).is_null())) if data else frame


def _canonical_names(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """Match FOCUS column names case-insensitively (the spec examples write `SkuPriceid`), apply renames."""
    renames: dict[str, str] = {}
    for name in frame.columns:
        clean = name.strip().lstrip("\ufeff")
        canonical = _CANONICAL.get(clean.lower(), clean)
        renames[name] = canonical
    frame = frame.rename(renames)
    for new, old in RENAMES.items():
        if new in frame.columns:
            replacement = pl.coalesce(new, old) if old in frame.columns else pl.col(new)
            frame = frame.with_columns(replacement.alias(old)).drop(new)
    duplicates = {name for name in frame.columns if frame.columns.count(name) > 1}
    if duplicates:
        raise InputError(f"{path}: duplicate column(s) {', '.join(sorted(duplicates))}")
    return frame


def _enum_case(frame: pl.DataFrame) -> list[pl.Expr]:
    """`Usage-based` becomes `Usage-Based`; unknown values are kept as written for the validator to judge.
    Only columns holding a miscased value are rewritten (checked on distinct values: cheap on 10M rows)."""
    exprs = []
    for name, allowed in ENUMS.items():
        if name not in frame.columns or frame.schema[name] != pl.String:
            continue
        distinct = set(frame.get_column(name).unique().drop_nulls().to_list())
        lookup = {value.lower(): value for value in allowed}
        fixes = {v: lookup[v.lower()] for v in distinct if v.lower() in lookup and lookup[v.lower()] != v}
        if fixes:
            exprs.append(pl.col(name).replace(fixes))
    return exprs


def _instance_type(frame: pl.DataFrame) -> pl.Series:
    """From SkuPriceDetails.InstanceType, else the first instance-type-shaped word in the description columns.
    Worked out once per distinct value: these columns repeat across millions of rows."""
    found = pl.Series("x_InstanceType", [None] * frame.height, dtype=pl.String)
    for name in ("SkuPriceDetails", "ChargeDescription", "SkuMeter", "ResourceType", "x_Extras"):
        if name not in frame.columns or not found.is_null().any():
            continue
        column = frame.get_column(name)
        distinct = column.unique().drop_nulls()
        if name == "SkuPriceDetails":
            extracted = distinct.str.json_path_match("$.InstanceType")
        else:
            groups = distinct.str.extract_groups(_INSTANCE_TYPE).struct.unnest()
            extracted = groups.select(pl.coalesce(pl.all())).to_series()
        lookup = column.replace_strict(distinct, extracted, default=None, return_dtype=pl.String)
        found = found.fill_null(lookup)
    return found


def _source(frame: pl.DataFrame, source: str | None) -> pl.Expr:
    """A named source, or by default one per provider and billing account, so two providers' files for the
    same month never replace each other."""
    if source:
        return pl.lit(source)
    provider = pl.col("ProviderName") if "ProviderName" in frame.columns else pl.lit(None, pl.String)
    account = pl.col("BillingAccountId") if "BillingAccountId" in frame.columns else pl.lit(None, pl.String)
    return pl.concat_str([pl.lit("focus"), provider.fill_null("unknown"), account.fill_null("unknown")], separator=":")
