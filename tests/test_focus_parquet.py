"""FOCUS parquet read by DuckDB itself (connectors/focus_parquet.py) gives the very store the checked streaming path
gives: every input here is loaded both ways and compared cell by cell, and what the direct path refuses falls back
to the streaming path with its own error or result."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import BILLING
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finops.errors import InputError
from finops.ingest import ingest_focus
from finops.store import LoadResult

TOOLKIT = sorted((BILLING / "focus-data-toolkit").glob("*.csv"))
DEMO = Path(__file__).parent.parent / "sample_data"


def load_both(files: list[Path], folder: Path, source: str | None = None) -> tuple[Any, Any]:
    """Each path's outcome (its LoadResult and store rows, or its error's text)."""
    outcomes = []
    for direct in (True, False):
        db = folder / f"{'direct' if direct else 'stream'}.duckdb"
        db.unlink(missing_ok=True)
        try:
            result = ingest_focus(db, files, source=source, direct=direct)
        except InputError as e:
            outcomes.append((None, str(e)))
            assert not db.exists()  # a failed first load leaves no store behind
            continue
        outcomes.append((result, stored_rows(db)))
    return outcomes[0], outcomes[1]


def stored_rows(db: Path) -> list[tuple[Any, ...]]:
    """Every costs row but the load id, x_Extras as parsed JSON (the same values, maybe spelled differently)."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = [r[0] for r in con.execute("DESCRIBE costs").fetchall() if r[0] != "x_LoadId"]
        rows = con.execute("SELECT " + ", ".join(f'"{n}"' for n in names) + " FROM costs").fetchall()
    extras = names.index("x_Extras")
    parsed = [(*row[:extras], json.loads(row[extras]) if row[extras] else None, *row[extras + 1 :]) for row in rows]
    return sorted(parsed, key=repr)


def assert_same(direct: tuple[Any, Any], stream: tuple[Any, Any], *, reader: str) -> None:
    (direct_result, direct_rows), (stream_result, stream_rows) = direct, stream
    assert direct_rows == stream_rows
    if stream_result is None:
        return
    assert isinstance(direct_result, LoadResult) and direct_result.reader == reader
    assert stream_result.reader == "stream"
    assert direct_result.slices == stream_result.slices  # rows and totals per (source, period), to the last digit


def test_demo_exports_load_directly_and_alike(tmp_path: Path) -> None:
    direct, stream = load_both([DEMO / "costs_aws.parquet", DEMO / "costs_gcp.parquet"], tmp_path)
    assert_same(direct, stream, reader="duckdb")
    assert len(direct[1]) == 2393


@pytest.mark.parametrize("money", ["float", "decimal", "text"])
def test_toolkit_exports_as_typed_parquet(tmp_path: Path, money: str) -> None:
    """The FinOps Foundation toolkit's four provider exports (real FOCUS CSVs), written as parquet with float,
    decimal or text money and typed timestamps."""
    files = []
    for index, csv_path in enumerate(TOOLKIT):
        frame = pl.read_csv(csv_path, infer_schema=False)
        times = [c for c in frame.columns if c.endswith(("PeriodStart", "PeriodEnd"))]
        frame = frame.with_columns(pl.col(times).str.to_datetime(time_zone="UTC"))
        if money != "text":
            costs = [c for c in frame.columns if c.endswith(("Cost", "UnitPrice", "Quantity"))]
            target = pl.Float64 if money == "float" else pl.Decimal(38, 10)
            frame = frame.with_columns(pl.col(costs).cast(target))
        frame.write_parquet(tmp_path / f"toolkit-{index}.parquet")
        files.append(tmp_path / f"toolkit-{index}.parquet")
    direct, stream = load_both(files, tmp_path)
    assert_same(direct, stream, reader="duckdb")
    assert len(direct[1]) > 1000


def test_aws_map_tags_extras_renames_and_odd_names(tmp_path: Path) -> None:
    frame = pl.read_csv(TOOLKIT[0], infer_schema=False).head(4).drop("Tags")
    frame = (
        frame.rename({"ProviderName": "ServiceProviderName"})
        .with_columns(
            ProviderName=pl.Series(
                ["old", None, "old", None]
            ),  # 1.3 keeps the deprecated column: kept, filled if empty
            ChargeCategory=pl.Series(["usage", "TAX", "Credit", "Bogus"]),
            ChargeDescription=pl.Series(["p5.48xlarge hours", "a3-highgpu-8g", "Standard_ND96isr_H100_v5", None]),
            SkuPriceDetails=pl.Series(['{"InstanceType": "g5.xlarge"}', None, "{}", '{"InstanceType": 5}']),
            billingaccountid=pl.Series([123456789012, 42, None, 7], dtype=pl.Int64),  # case-insensitive name, int id
        )
        .drop("BillingAccountId")
    )
    table = frame.to_arrow()
    tags = pa.array(
        [[("user:Team", " ml "), ("team", "dup"), ("Env", 'say "hi"')], [], None, [("CostCenter", None)]],
        type=pa.map_(pa.string(), pa.string()),
    )
    extras = {
        'we"ird col': pa.array(["a", None, "c", "d"]),  # a header is data: quoted, never trusted
        "x_Extras": pa.array([1, 2, None, 4], type=pa.int64()),
    }
    for name, column in extras.items():
        table = table.append_column(name, column)
    pq.write_table(table.append_column("Tags", tags), tmp_path / "aws.parquet")
    direct, stream = load_both([tmp_path / "aws.parquet"], tmp_path)
    assert_same(direct, stream, reader="duckdb")
    with duckdb.connect(str(tmp_path / "direct.duckdb"), read_only=True) as con:
        rows = con.execute(
            """SELECT "ProviderName", "ChargeCategory", "Tags", "x_InstanceType", "BillingAccountId",
                      "x_Extras"->>'we"ird col', "x_FocusVersion", "ServiceProviderName" FROM costs
               ORDER BY "ChargeCategory" """
        ).fetchall()
    assert rows == [
        ("AWS", "Bogus", {"cost_center": ""}, "5", "7", "d", "1.3", "AWS"),  # unknown values kept for the validator
        ("old", "Credit", None, "Standard_ND96isr_H100_v5", None, "c", "1.3", "AWS"),  # {} has no InstanceType
        ("AWS", "Tax", None, "a3-highgpu-8g", "42", None, "1.3", "AWS"),
        ("old", "Usage", {"team": "ml", "env": 'say "hi"'}, "g5.xlarge", "123456789012", "a", "1.3", "AWS"),
    ]


@pytest.mark.parametrize(
    ("column", "value", "error"),
    [
        ("BilledCost", "$1,234.00", None),  # loose money: the streaming path reads it
        ("BillingPeriodStart", "10/01/2024", None),  # a US date from a spreadsheet, likewise
        ("EffectiveCost", "n/a", "row 2, column EffectiveCost: 'n/a' is not a number"),
        ("ChargePeriodStart", "", "row 2, column ChargePeriodStart: '' is not a date/time"),
        ("BilledCost", None, "row 2, column BilledCost: empty, but FOCUS requires a value"),
        ("Tags", "not json", "row 2, column Tags: 'not json': tags are not a JSON object"),
        ("SkuPriceDetails", "{bad", "row 2, column SkuPriceDetails: '{bad' is not valid JSON"),
        ("BillingPeriodStart", "0024-10-01", "row 2, column BillingPeriodStart: '0024-10-01' is not a date/time"),
    ],
)
def test_what_duckdb_refuses_takes_the_streaming_path(
    tmp_path: Path, column: str, value: str | None, error: str | None
) -> None:
    frame = pl.read_csv(TOOLKIT[0], infer_schema=False).head(3)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )
    frame.write_parquet(tmp_path / "loose.parquet")
    direct, stream = load_both([tmp_path / "loose.parquet"], tmp_path)
    assert_same(direct, stream, reader="stream")
    if error is None:
        assert direct[0] is not None and len(direct[1]) == 3
    else:
        assert direct[0] is None and error in direct[1], direct[1]


def test_a_refused_load_leaves_the_store_exactly_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    first = ingest_focus(db, [DEMO / "costs_aws.parquet"])
    assert first.reader == "duckdb"
    before = stored_rows(db)
    bad = pl.read_parquet(DEMO / "costs_gcp.parquet").with_columns(pl.col("BilledCost").cast(pl.String))
    bad = bad.with_columns(
        pl.when(pl.int_range(pl.len()) == 700).then(pl.lit("oops")).otherwise("BilledCost").alias("BilledCost")
    )
    bad.write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="row 701, column BilledCost: 'oops' is not a number"):
        ingest_focus(db, [tmp_path / "bad.parquet"])
    assert stored_rows(db) == before


def test_restated_month_replaces_its_slice_through_the_direct_path(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    month = pl.read_parquet(DEMO / "costs_aws.parquet")
    month.write_parquet(tmp_path / "v1.parquet")
    assert ingest_focus(db, [tmp_path / "v1.parquet"], source="aws").reader == "duckdb"
    assert ingest_focus(db, [tmp_path / "v1.parquet"], source="aws").unchanged
    restated = month.with_columns(pl.col("BilledCost") * 2)
    restated.write_parquet(tmp_path / "v2.parquet")
    result = ingest_focus(db, [tmp_path / "v2.parquet"], source="aws")
    assert result.reader == "duckdb"
    assert all(change.rows == change.previous_rows for change in result.slices)
    assert all(change.billed_total == 2 * change.previous_billed_total for change in result.slices)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT x_LoadId) FROM costs").fetchall() == [(month.height, 1)]


def test_csv_mixed_inputs_and_typed_extras_take_the_streaming_path(tmp_path: Path) -> None:
    direct, stream = load_both([TOOLKIT[0], DEMO / "costs_gcp.parquet"], tmp_path)
    assert_same(direct, stream, reader="stream")
    frame = pl.read_parquet(DEMO / "costs_gcp.parquet").with_columns(
        x_SeenAt=pl.lit(datetime(2024, 1, 1, tzinfo=UTC)), x_Rate=pl.lit(0.25)
    )
    frame.write_parquet(tmp_path / "extras.parquet")
    direct, stream = load_both([tmp_path / "extras.parquet"], tmp_path)
    assert_same(direct, stream, reader="stream")  # polars and DuckDB spell times and floats differently in JSON


# -- any file hypothesis can write: both paths agree, whichever one ends up loading it ---------------------------

MONTHS = [datetime(2026, 9, 1), datetime(2026, 10, 1)]
TIME_TYPES = ["us", "us-utc", "ns", "ms-utc", "date", "text-iso", "text-z"]
TAG_TEXTS = ['{"Team": "ml"}', '{"user:team": " a ", "TEAM": "b"}', "{}", '"env": "prod"', '{"n": 5, "x": null}', None]
ENUM_VALUES = ["Usage", "usage", "TAX", "Credit", "Other", None]
DESCRIPTIONS = ["m6i.large", "runs on p4d.24xlarge", "a2-ultragpu-1g", "plain", None]


def time_column(name: str, values: list[datetime], kind: str) -> pl.Series:
    series = pl.Series(name, values, dtype=pl.Datetime("us"))
    return {
        "us": series,
        "us-utc": series.dt.replace_time_zone("UTC"),
        "ns": series.cast(pl.Datetime("ns")),
        "ms-utc": series.dt.replace_time_zone("UTC").dt.cast_time_unit("ms"),
        "date": series.dt.date(),
        "text-iso": series.dt.strftime("%Y-%m-%d %H:%M:%S"),
        "text-z": series.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }[kind]


@st.composite
def focus_frames(draw: st.DrawFn) -> pl.DataFrame:
    rows = draw(st.integers(1, 12))
    months = [draw(st.sampled_from(MONTHS)) for _ in range(rows)]
    money = st.one_of(
        st.floats(-1e6, 1e6, allow_nan=False),
        st.decimals(-(10**6), 10**6, places=draw(st.integers(0, 12)), allow_nan=False, allow_infinity=False).map(float),
    )
    money_kind = draw(st.sampled_from(["float", "decimal", "text"]))
    columns: dict[str, pl.Series] = {}
    for name in ("BilledCost", "EffectiveCost", "ListCost"):
        values = [draw(money) for _ in range(rows)]
        if money_kind == "float":
            columns[name] = pl.Series(name, values, dtype=pl.Float64)
        elif money_kind == "decimal":
            columns[name] = pl.Series(name, [Decimal(f"{v:.10f}") for v in values], dtype=pl.Decimal(38, 10))
        else:
            columns[name] = pl.Series(name, [f" {v!r} " for v in values])
    time_kind = draw(st.sampled_from(TIME_TYPES))
    hours = [draw(st.integers(0, 700)) for _ in range(rows)]
    starts = [m.replace(day=1 + h // 24, hour=h % 24) for m, h in zip(months, hours, strict=True)]
    columns["BillingPeriodStart"] = time_column("BillingPeriodStart", months, time_kind)
    columns["BillingPeriodEnd"] = time_column(
        "BillingPeriodEnd", [m.replace(month=m.month + 1) for m in months], time_kind
    )
    columns["ChargePeriodStart"] = time_column("ChargePeriodStart", starts, draw(st.sampled_from(TIME_TYPES)))
    columns["ChargePeriodEnd"] = time_column("ChargePeriodEnd", starts, time_kind)
    for name, values in (("Tags", TAG_TEXTS), ("ChargeCategory", ENUM_VALUES), ("ChargeDescription", DESCRIPTIONS)):
        columns[name] = pl.Series(name, [draw(st.sampled_from(values)) for _ in range(rows)], dtype=pl.String)
    columns["ProviderName"] = pl.Series(
        "ProviderName", [draw(st.sampled_from(["AWS", "GCP", None])) for _ in range(rows)]
    )
    if draw(st.booleans()):
        columns["x_team_code"] = pl.Series("x_team_code", [draw(st.integers(-5, 5)) for _ in range(rows)])
    return pl.DataFrame(list(columns.values()))


@pytest.mark.slow  # about 12 s: .ci/run runs it with the other slow checks
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=focus_frames(), source=st.sampled_from([None, "mine"]))
def test_any_file_loads_alike_both_ways(tmp_path: Path, frame: pl.DataFrame, source: str | None) -> None:
    frame.write_parquet(tmp_path / "any.parquet")
    direct, stream = load_both([tmp_path / "any.parquet"], tmp_path, source)
    assert_same(direct, stream, reader="duckdb")


def test_dates_become_utc_midnight(tmp_path: Path) -> None:
    frame = pl.read_csv(TOOLKIT[0], infer_schema=False).head(1)
    frame = frame.with_columns(pl.lit(date(2024, 10, 1)).alias("BillingPeriodStart"))
    frame.write_parquet(tmp_path / "date.parquet")
    assert ingest_focus(tmp_path / "s.duckdb", [tmp_path / "date.parquet"]).reader == "duckdb"
    with duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        assert con.execute('SELECT "BillingPeriodStart" FROM costs').fetchall() == [
            (datetime(2024, 10, 1, tzinfo=UTC),)
        ]


def test_cli_says_which_path_read_the_files_and_no_direct_forces_the_checked_one(
    cli, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    parquet = DEMO / "costs_gcp.parquet"
    with caplog.at_level(logging.INFO, logger="finops.ingest"):
        assert cli("-v", "ingest", "--db", tmp_path / "a.duckdb", parquet).code == 0
    assert "DuckDB read the 1 parquet file(s) directly" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="finops.ingest"):
        assert cli("-v", "ingest", "--db", tmp_path / "b.duckdb", "--no-direct", parquet).code == 0
    assert "directly" not in caplog.text
    assert stored_rows(tmp_path / "a.duckdb") == stored_rows(tmp_path / "b.duckdb")
    loose = pl.read_parquet(parquet).with_columns(pl.lit("$1,000.00").alias("ListCost"))
    loose.write_parquet(tmp_path / "loose.parquet")
    with caplog.at_level(logging.INFO, logger="finops.ingest"):
        assert cli("-v", "ingest", "--db", tmp_path / "c.duckdb", tmp_path / "loose.parquet").code == 0
    assert "DuckDB did not load the files directly (Conversion Error" in caplog.text
    assert "loading them through the checked path" in caplog.text


@pytest.mark.parametrize("version", ["1.3", "1.4"])
def test_focus_1_3_and_1_4_files_load_directly_and_alike(tmp_path: Path, version: str) -> None:
    """The FOCUS 1.3/1.4 samples (tests/data/billing/focus-1.3, focus-1.4) as parquet with typed times and decimal
    money: their new columns (JSON included) and ProviderName, filled from ServiceProviderName where a 1.4 file has
    none, come out of DuckDB's own read as from the streaming path."""
    pattern = "focus-1.3/*_cost_and_usage_*.csv" if version == "1.3" else "focus-1.4/*/*_cost_and_usage.csv"
    files = []
    for index, csv_path in enumerate(sorted(BILLING.glob(pattern))):
        frame = pl.read_csv(csv_path, infer_schema=False)
        times = [c for c in frame.columns if c.endswith(("PeriodStart", "PeriodEnd"))]
        costs = [c for c in frame.columns if c.endswith(("Cost", "UnitPrice", "Quantity"))]
        frame = frame.with_columns(
            pl.col(times).str.to_datetime(time_zone="UTC"), pl.col(costs).cast(pl.Decimal(38, 15))
        )
        frame.write_parquet(tmp_path / f"focus-{index}.parquet")
        files.append(tmp_path / f"focus-{index}.parquet")
    direct, stream = load_both(files, tmp_path)
    assert_same(direct, stream, reader="duckdb")
    with duckdb.connect(str(tmp_path / "direct.duckdb"), read_only=True) as con:
        filled = con.execute("""SELECT count(*), count("ContractApplied"), count("AllocatedMethodId"),
                                       count("ProviderName") FROM costs""").fetchone()
    assert filled[0] == filled[3] >= 1000 and filled[1] > 0 and filled[2] > 0
