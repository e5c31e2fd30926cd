"""FOCUS 1.3/1.4 Contract Commitment files into the `contract_commitments` table.

The dataset (new in FOCUS 1.3, 13 columns; 30 in 1.4) lists the commitments of a provider's contracts: spend or
usage commitments, negotiated terms and commitment discounts, each with its term and amount. Cost and Usage rows
point at them through `ContractApplied` (JSON: `{"Elements": [{"ContractId", "ContractCommitmentId",
"ContractCommitmentAppliedCost" | "ContractCommitmentAppliedQuantity", ...}]}`); finops.commitments sums those.

Read like the Cost and Usage files (connectors/focus_files.py): every column as text first, names matched without
regard to case, typed by finops.coerce (a bad cell names file, row and column), columns the dataset does not define
kept in `x_Extras`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl

from finops.coerce import ROW, coerce
from finops.connectors.focus_files import BATCH_ROWS, numbered_batches, read_errors, read_header
from finops.errors import InputError
from finops.schema import CONTRACT_COMMITMENT_COLUMNS, CONTRACT_COMMITMENTS

_NAMES = {name.lower(): name for name, _ in CONTRACT_COMMITMENT_COLUMNS}
# The 13 columns of FOCUS 1.3; any other defined column marks a 1.4 file.
_V1_3 = {name for name, _ in CONTRACT_COMMITMENT_COLUMNS[:13]}
REQUIRED_VALUES = ("ContractCommitmentId", "ContractId")


def commitment_version(header: Sequence[str]) -> str:
    names = {_NAMES.get(name.strip().lstrip("\ufeff").lower()) for name in header} - {None}
    return "1.4" if names - _V1_3 else "1.3"


def read_commitment_batches(
    path: Path, *, source: str | None = None, batch_rows: int = BATCH_ROWS
) -> Iterator[pl.DataFrame]:
    """A Contract Commitment file as frames of `contract_commitments` rows.

    The source is `source` when given, else `focus:` and the ServiceProviderName (1.4), or `focus:unknown` for a
    1.3 file (it names no provider). A load replaces a source's commitments contract by contract (the slice is
    (x_Source, ContractId)), so loading one contract's file never removes another's."""
    header = read_errors(path, lambda: read_header(path))
    missing = [name for name in REQUIRED_VALUES if name.lower() not in {h.lower() for h in header}]
    if missing:
        raise InputError(
            f"{path}: not a FOCUS Contract Commitment file: missing column(s) {', '.join(missing)}",
            hint="a FOCUS 1.3/1.4 Contract Commitment file has ContractCommitmentId and ContractId",
        )
    version = commitment_version(header)
    for raw in numbered_batches(path, batch_rows):
        yield _normalise(raw, path, source, version)


def _normalise(raw: pl.DataFrame, path: Path, source: str | None, version: str) -> pl.DataFrame:
    renamed = {name: _NAMES.get(name.strip().lstrip("\ufeff").lower(), name) for name in raw.columns if name != ROW}
    if len(set(renamed.values())) < len(renamed):
        twice = sorted({n for n in renamed.values() if list(renamed.values()).count(n) > 1})
        raise InputError(f"{path}: duplicate column(s) {', '.join(twice)}")
    raw = raw.rename(renamed)
    known = [name for name in raw.columns if name in _NAMES.values()]
    extras = [name for name in raw.columns if name not in known and name != ROW]
    frame = coerce(raw.select([ROW, *known]), CONTRACT_COMMITMENTS, file=str(path))
    for name in REQUIRED_VALUES:
        nulls = frame.get_column(name).is_null()
        if nulls.any():
            row = frame.get_column(ROW)[int(nulls.arg_true()[0])]
            raise InputError(f"{path}: row {row}, column {name}: empty, but FOCUS requires a value")
    provider = pl.col("ServiceProviderName") if "ServiceProviderName" in frame.columns else pl.lit(None, pl.String)
    frame = frame.with_columns(
        x_Extras=pl.struct(raw.select(extras)).struct.json_encode() if extras else pl.lit(None, pl.String),
        x_FocusVersion=pl.lit(version),
        x_Source=pl.lit(source) if source else pl.concat_str([pl.lit("focus:"), provider.fill_null("unknown")]),
    )
    return frame.drop(ROW)
