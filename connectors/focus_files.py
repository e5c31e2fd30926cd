"""FOCUS files (CSV, gzip CSV, parquet; FOCUS 1.0 to 1.4) into the `costs` table.

What real files do, and this handles: literal `NULL` tokens, UTF-8 BOMs, timestamps with and without `T`/`Z`,
US dates from spreadsheets, 12-digit account ids (read as text, never inferred), `$1,234.00` money in the
spec's own examples, wrong-case enumerations (`Usage-based`), 1.3's and 1.4's new columns (each kept with its
meaning: finops.schema says what every version added and removed), and columns that are not FOCUS (kept in
`x_Extras`, nothing dropped). A FOCUS 1.3+ folder also holds other datasets: `dataset_of` tells them apart by
header (the Contract Commitment dataset is read by connectors/focus_commitments.py).
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from finops.coerce import ROW, coerce
from finops.connectors.billing_checks import check_costs, check_header, describe_unknown, describe_unknown_file
from finops.errors import InputError, UsageError
from finops.schema import ALL_FOCUS_COLUMNS, CONTROL_COLUMNS, COSTS

SUFFIXES = (".csv", ".csv.gz", ".parquet")
BATCH_ROWS = 1_000_000  # rows per frame: big files stream through in about 1 GB of memory
NULL_TOKENS = ["", "NULL", "null", "(null)"]
REQUIRED = (
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BilledCost",
    "EffectiveCost",
)
# Columns every row must have a value in (the rest of REQUIRED may be empty on a row).
REQUIRED_VALUES = ("BillingPeriodStart", "ChargePeriodStart", "BilledCost", "EffectiveCost")
# FOCUS 1.3 deprecated ProviderName "replaced by ServiceProviderName" (its spec page), and 1.4 removed it: for a file
# without a ProviderName value, ServiceProviderName is the same fact, so ProviderName (which reports, sources and
# rules read) is filled from it. Never the other way round, and never PublisherName: it was deprecated with no
# replacement, and HostProviderName names the entity whose infrastructure hosts a service, a different entity
# ("Microsoft Azure" hosting a marketplace product, where the publisher is its seller). The 1.3 columns keep what
# the file wrote.
FILLED_FROM = {"ProviderName": "ServiceProviderName"}
# Columns that only exist from a version on: the newest one present names the file's version (1.4 also when a file
# has ServiceProviderName but no ProviderName, which 1.3 still requires: see focus_version).
VERSION_MARKERS = (
    ("1.4", ("InvoiceDetailId", "CommitmentProgramEligibilityDetails")),
    ("1.3", ("ServiceProviderName", "HostProviderName", "ContractApplied", "AllocatedMethodId")),
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
# FOCUS datasets other than Cost and Usage, by columns only they have (FOCUS 1.3: Contract Commitment; 1.4: Billing
# Period and Invoice Detail). Cost and Usage has BilledCost and ChargePeriodStart, which none of these has.
DATASET_MARKERS = (
    ("Contract Commitment", ("ContractCommitmentId", "ContractId", "ContractCommitmentCategory")),
    ("Invoice Detail", ("InvoiceDetailId", "InvoiceIssueStatus", "PaymentTerms")),
    ("Billing Period", ("BillingPeriodStatus", "BillingPeriodCreated", "BillingPeriodLastUpdated")),
)
COST_AND_USAGE = "Cost and Usage"
_CANONICAL = {name.lower(): name for name, _ in ALL_FOCUS_COLUMNS}
# Instance types as AWS, GCP and Azure spell them, for GPU pricing when SkuPriceDetails lacks InstanceType.
INSTANCE_TYPE_PATTERN = (
    r"\b([a-z][a-z0-9]*\d[a-z0-9-]*\.(?:\d*x?large|metal|medium|small|micro|nano))\b"
    r"|\b([a-z]\d[a-z]?-(?:highgpu|megagpu|ultragpu|edgegpu|standard|highmem|highcpu)-\d+g?)\b"
    r"|\b(Standard_N[A-Za-z0-9_]+)\b"
)


@dataclass(frozen=True)
class FocusFiles:
    """FOCUS files are loaded by `finops ingest PATH...` (see read_focus_batches); nothing to sync."""

    name: str = "focus"
    table = COSTS


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


def read_focus_batches(
    path: Path, *, source: str | None = None, batch_rows: int = BATCH_ROWS
) -> Iterator[pl.DataFrame]:
    """A file as frames of `costs` rows, about `batch_rows` at a time, so memory stays flat however big the file.

    The header is checked before the first batch; a bad cell raises InputError naming file, row and column
    (rows are data records, counted from 1 after the header).
    """
    version = checked_version(path)
    for raw in numbered_batches(path, batch_rows):
        yield normalise_focus_frame(_canonical_names(raw, path), path, source, version)


def numbered_batches(path: Path, batch_rows: int = BATCH_ROWS) -> Iterator[pl.DataFrame]:
    """Raw batches of a billing file with the row-number column; rows with no value at all (the spec's examples
    have blank CRLF lines between rows) are dropped, and row numbers count data records from 1."""
    offset = 1
    for raw in read_errors(path, lambda: raw_batches(path, batch_rows)):
        raw = raw.with_row_index(ROW, offset=offset)
        offset += raw.height
        data = [name for name in raw.columns if name != ROW]
        raw = raw.filter(~pl.all_horizontal(pl.col(data).is_null())) if data else raw
        if raw.height:
            yield raw


def read_billing_batches(
    path: Path, *, source: str | None = None, batch_rows: int = BATCH_ROWS
) -> Iterator[pl.DataFrame]:
    """Any billing file finops reads: an AWS CUR (1.0 or 2.0) goes through the CUR mapping, anything else is
    read as FOCUS. Decided by the header, so file names do not matter."""
    from finops.connectors.aws_cur import cur_version, read_cur_batches
    from finops.connectors.azure_cost_details import dataset_from_name, is_cost_details, read_cost_details_batches

    header = read_errors(path, lambda: read_header(path))
    if cur_version(header):
        return read_cur_batches(path, source=source, batch_rows=batch_rows)
    if is_cost_details(header, path):  # raises, naming it, on an Azure file that is not cost details
        return read_cost_details_batches(path, dataset=dataset_from_name(path), source=source, batch_rows=batch_rows)
    return read_focus_batches(path, source=source, batch_rows=batch_rows)


def check_billing_header(path: Path) -> str:
    """The file's dataset (COST_AND_USAGE for a CUR or an Azure cost-details file too), failing fast, before any
    database is opened, on a file that is neither FOCUS nor a CUR."""
    from finops.connectors.aws_cur import check_cur_header, cur_version
    from finops.connectors.azure_cost_details import is_cost_details

    header = read_errors(path, lambda: read_header(path))
    if cur_version(header):
        check_cur_header(path)
        return COST_AND_USAGE
    if is_cost_details(header, path):
        return COST_AND_USAGE
    dataset = dataset_of(header)
    if dataset == COST_AND_USAGE:
        checked_version(path)
    return dataset


def dataset_of(header: Sequence[str]) -> str:
    """Which FOCUS dataset a header belongs to: COST_AND_USAGE unless it has the columns of another dataset and
    none of Cost and Usage's own charge columns."""
    present = {name.strip().lstrip("\ufeff").lower() for name in header}
    if {"billedcost", "chargeperiodstart"} <= present:
        return COST_AND_USAGE
    for dataset, markers in DATASET_MARKERS:
        if sum(marker.lower() in present for marker in markers) >= 2:
            return dataset
    return COST_AND_USAGE


def focus_version(header: Sequence[str]) -> str:
    """The FOCUS version a Cost and Usage header shows (its newest columns), "1.0" when it shows none newer."""
    present = {focus_name(name.strip().lstrip("\ufeff")) for name in header}
    if "ServiceProviderName" in present and "ProviderName" not in present:
        return "1.4"  # 1.3 deprecated ProviderName but still requires it; 1.4 removed it
    return next((v for v, markers in VERSION_MARKERS if present & set(markers)), "1.0")


def read_focus_file(path: Path, *, source: str | None = None) -> pl.DataFrame:
    """A whole file as one frame (for small files and tests; ingest streams with read_focus_batches)."""
    frames = list(read_focus_batches(path, source=source))
    return pl.concat(frames) if len(frames) > 1 else frames[0]


def checked_version(path: Path) -> str:
    """The file's FOCUS version, once its header is known to hold the required columns."""
    header = read_errors(path, lambda: read_header(path))
    version = focus_version(header)
    present = {_canonical(name) for name in header}
    missing = [name for name in REQUIRED if name not in present]
    if missing:
        seen = describe_unknown(header)
        raise InputError(
            f"{path}: not a FOCUS file: "
            + (f"it looks like {seen}" if seen else f"missing column(s) {', '.join(missing)}"),
            hint="FOCUS 1.0-1.4 Cost and Usage files need at least " + ", ".join(REQUIRED),
        )
    return version


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "CSV"
    raise InputError(
        f"{path}: unknown file type", hint=describe_unknown_file(path) or "FOCUS files are .csv, .csv.gz or .parquet"
    )


def read_header(path: Path) -> list[str]:
    if _kind(path) == "parquet":
        names = list(pq.ParquetFile(path).schema_arrow.names)
    else:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            names = next(csv.reader(handle), [])
    return check_header(path, [name.strip().lstrip("\ufeff") for name in names])


def raw_batches(path: Path, batch_rows: int) -> Iterator[pl.DataFrame]:
    """Pull-based reading: the next batch is read only when the last one has been written, so a slow writer never
    lets the reader run ahead and fill memory. Under --memory-limit the batches shrink to fit (finops.memory)."""
    from finops.memory import batch_rows as bounded

    batch_rows = bounded(batch_rows)
    if _kind(path) == "parquet":
        # A slice of a parquet scan reads only the row groups it needs (polars decodes them in parallel).
        total = pl.scan_parquet(path).select(pl.len()).collect().item()
        for start in range(0, total, batch_rows):
            yield pl.scan_parquet(path).slice(start, batch_rows).collect()
        return
    # Every column as text: type inference turns account ids into integers and loses leading zeros.
    text_types = {name: pa.string() for name in _header_raw(path)}
    reader = pa_csv.open_csv(
        path,
        read_options=pa_csv.ReadOptions(block_size=64 << 20),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=text_types, null_values=NULL_TOKENS, strings_can_be_null=True
        ),
    )
    for block in reader:  # blocks are sized in bytes; slices keep every batch within batch_rows
        for start in range(0, block.num_rows, batch_rows):
            frame = pl.from_arrow(block.slice(start, batch_rows))
            assert isinstance(frame, pl.DataFrame)
            yield frame


def _header_raw(path: Path) -> list[str]:
    """Header names exactly as pyarrow will see them (BOM removed, nothing else touched)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle), [])


T = TypeVar("T")


def read_errors(path: Path, read: Callable[[], T]) -> T:
    """Run a read and turn its failure into an error naming the file. Generators are drained lazily by the
    caller, so their errors are wrapped as they surface."""
    try:
        result = read()
    except (pl.exceptions.PolarsError, pa.ArrowException, OSError, UnicodeDecodeError, csv.Error) as e:
        raise _read_error(path, e) from e
    if isinstance(result, Iterator):
        return _wrapped(path, result)  # type: ignore[return-value]
    return result


def _wrapped(path: Path, items: Iterator[T]) -> Iterator[T]:
    try:
        yield from items
    except (pl.exceptions.PolarsError, pa.ArrowException, OSError, UnicodeDecodeError) as e:
        raise _read_error(path, e) from e


def _read_error(path: Path, e: BaseException) -> InputError:
    first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return InputError(
        f"{path}: cannot be read as {_kind(path)}: {first_line}",
        hint="the file may be truncated or not what its name says; export it again",
    )


def normalise_focus_frame(raw: pl.DataFrame, path: Path, source: str | None, version: str) -> pl.DataFrame:
    """Raw columns with FOCUS names (and `_row`) to `costs` rows: typed, enumerations in the spec's case, extras
    kept as `x_Extras`, source named. Other connectors that map a provider's own format to FOCUS names end here."""
    known = [name for name in raw.columns if name in _CANONICAL.values()]
    controls = [name for name in raw.columns if name in CONTROL_COLUMNS]
    extras = [name for name in raw.columns if name not in known and name != ROW and name not in controls]
    frame = coerce(raw.select([ROW, *known]), COSTS, file=str(path))
    for name in REQUIRED_VALUES:
        nulls = frame.get_column(name).is_null()
        if nulls.any():
            row = frame.get_column(ROW)[int(nulls.arg_true()[0])]
            raise InputError(f"{path}: row {row}, column {name}: empty, but FOCUS requires a value")
    frame = frame.with_columns(
        _enum_case(frame),
        x_Extras=pl.struct(raw.select(extras)).struct.json_encode() if extras else pl.lit(None, pl.String),
        x_FocusVersion=pl.lit(version),
    )
    frame = _fill_deprecated(frame)
    frame = frame.with_columns(_instance_type(frame), *raw.select(controls), x_Source=_source(frame, source))
    check_costs(frame, raw, path)
    return frame.drop(ROW)


def _fill_deprecated(frame: pl.DataFrame) -> pl.DataFrame:
    """ProviderName from ServiceProviderName where a 1.3+ file leaves it empty or has none (FILLED_FROM)."""
    for old, new in FILLED_FROM.items():
        if new in frame.columns:
            filled = pl.coalesce(old, new) if old in frame.columns else pl.col(new)
            frame = frame.with_columns(filled.alias(old))
    return frame


def _canonical(name: str) -> str:
    """The FOCUS name for a header."""
    return focus_name(name.strip().lstrip("\ufeff"))


def focus_name(clean: str) -> str:
    """A FOCUS column's name as the spec spells it, matched case-insensitively (the spec examples write
    `SkuPriceid`); other names as they are."""
    return _CANONICAL.get(clean.lower(), clean)


def _canonical_names(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """Rename columns to their FOCUS names."""
    renamed = {name: name.strip().lstrip("\ufeff") for name in frame.columns}
    frame = frame.rename({old: focus_name(new) for old, new in renamed.items()})
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
            groups = distinct.str.extract_groups(INSTANCE_TYPE_PATTERN).struct.unnest()
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
