"""FOCUS file ingest against real files, reconciled with an independent reader (Python's csv + Decimal)."""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from conftest import BILLING

TOOLKIT = sorted((BILLING / "focus-data-toolkit").glob("*.csv"))
SAMPLE = BILLING / "focus-sample-data" / "FOCUS-1.0" / "focus_sample.csv"
SPEC = BILLING / "focus-spec-1.2-examples"
HOUR_30 = {"commitment_discount_purchase_scenario_2.csv", "commitment_discount_purchase_scenario_3.csv"}
CENT = Decimal("0.01")


def independent_totals(files: list[Path]) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """(billing period start date, provider) -> (billed, effective), read with nothing finops uses."""
    totals: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for path in files:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                if not any(row.values()):
                    continue
                key = (row["BillingPeriodStart"][:10], row.get("ProviderName") or "(unknown)")
                totals[key][0] += Decimal(row["BilledCost"])
                totals[key][1] += Decimal(row["EffectiveCost"])
    return {k: (v[0], v[1]) for k, v in totals.items()}


def store_totals(db: Path) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            """SELECT strftime("BillingPeriodStart", '%Y-%m-%d'), coalesce("ProviderName", '(unknown)'),
                      sum("BilledCost"), sum("EffectiveCost") FROM costs GROUP BY ALL"""
        ).fetchall()
    return {(p, prov): (b, e) for p, prov, b, e in rows}


def table_state(db: Path) -> tuple[object, ...]:
    """Everything a failed load must leave as it was: rows, totals, load log."""
    with duckdb.connect(str(db), read_only=True) as con:
        costs = con.execute('SELECT count(*), sum("BilledCost"), sum("EffectiveCost") FROM costs').fetchall()
        loads = con.execute("SELECT load_id, source, slice, rows FROM loads ORDER BY ALL").fetchall()
    return (costs, loads)


def test_provider_files_reconcile_to_the_cent(cli, db: Path) -> None:
    result = cli("ingest", "--db", db, *TOOLKIT, SAMPLE)
    assert result.code == 0, result.err
    assert result.out == ""  # stdout is for data; the load summary goes to stderr
    expected = independent_totals([*TOOLKIT, SAMPLE])
    actual = store_totals(db)
    assert set(actual) == set(expected)
    for key, (billed, effective) in expected.items():
        assert actual[key][0].quantize(CENT) == billed.quantize(CENT), key
        assert actual[key][1].quantize(CENT) == effective.quantize(CENT), key
        # Exact, not just to the cent: 15 decimal places hold every value in these files.
        assert actual[key] == (billed, effective), key
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM costs").fetchone() == (2500,)


def test_ids_stay_text_and_dirty_values_are_normalised(cli, db: Path) -> None:
    assert cli("ingest", "--db", db, SAMPLE).code == 0
    with duckdb.connect(str(db), read_only=True) as con:
        accounts = {r[0] for r in con.execute('SELECT DISTINCT "BillingAccountId" FROM costs').fetchall()}
        frequencies = {r[0] for r in con.execute('SELECT DISTINCT "ChargeFrequency" FROM costs').fetchall()}
        literal_nulls = con.execute("SELECT count(*) FROM costs WHERE \"AvailabilityZone\" = 'NULL'").fetchall()
        extras = con.execute('SELECT DISTINCT json_keys("x_Extras") FROM costs').fetchall()
        versions = con.execute('SELECT DISTINCT "x_FocusVersion" FROM costs').fetchall()
    assert "1234567890123" in accounts  # 13 digits, never an integer
    assert "Usage-based" not in frequencies and "Usage-Based" in frequencies
    assert literal_nulls == [(0,)]
    assert extras == [(["Id"],)]  # the non-FOCUS column is kept, not dropped
    assert versions == [("1.0",)]


def test_spec_examples_load_and_the_two_broken_ones_are_named(cli, tmp_path: Path) -> None:
    good = [p for p in sorted(SPEC.rglob("*.csv")) if p.name not in HOUR_30]
    db = tmp_path / "spec.duckdb"
    result = cli("ingest", "--db", db, *good)
    assert result.code == 0, result.err
    expected = independent_totals_loose(good)
    with duckdb.connect(str(db), read_only=True) as con:
        billed = con.execute('SELECT sum("BilledCost") FROM costs').fetchall()[0][0]
    assert billed == expected
    for name in sorted(HOUR_30):
        bad = next(SPEC.rglob(name))
        result = cli("ingest", "--db", tmp_path / "other.duckdb", bad)
        assert result.code == 2
        assert name in result.err and "ChargePeriodEnd" in result.err and "2023-02-01T30:00:00Z" in result.err


def independent_totals_loose(files: list[Path]) -> Decimal:
    """The spec's examples write money as "$10,100.00 ": strip that by hand, independently."""
    total = Decimal(0)
    for path in files:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                text = (row.get("BilledCost") or "").strip().replace("$", "").replace(",", "")
                if text and text.lower() != "null":
                    total += Decimal(text)
    return total


def test_rerun_replaces_and_never_duplicates(cli, db: Path) -> None:
    assert cli("ingest", "--db", db, *TOOLKIT).code == 0
    first = store_totals(db)
    again = cli("ingest", "--db", db, *TOOLKIT)
    assert again.code == 0 and "unchanged" in again.err
    forced = cli("ingest", "--db", db, "--force", *TOOLKIT)
    assert forced.code == 0
    assert store_totals(db) == first
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM costs").fetchall() == [(1500,)]
        assert con.execute("SELECT count(DISTINCT load_id) FROM loads").fetchall() == [(2,)]


def test_restated_period_replaces_only_its_slice(cli, db: Path, tmp_path: Path) -> None:
    assert cli("ingest", "--db", db, SAMPLE).code == 0  # Sep and Oct 2024 slices
    restated = tmp_path / "restated.csv"
    frame = pl.read_csv(SAMPLE, infer_schema=False)
    september = frame.filter(pl.col("BillingPeriodStart").str.starts_with("2024-09"))
    september = september.with_columns(pl.lit("1.00").alias("BilledCost"), pl.lit("1.00").alias("EffectiveCost"))
    september.write_csv(restated)
    result = cli("ingest", "--db", db, restated)
    assert result.code == 0, result.err
    totals = store_totals(db)
    rows = september.group_by("ProviderName").len()
    for provider, count in rows.iter_rows():
        assert totals[("2024-09-01", provider)] == (Decimal(count), Decimal(count))
    assert totals[("2024-10-01", "Oracle")] == independent_totals([SAMPLE])[("2024-10-01", "Oracle")]


def test_non_numeric_cost_names_file_row_and_column_and_loses_nothing(cli, db: Path, tmp_path: Path) -> None:
    assert cli("ingest", "--db", db, TOOLKIT[0]).code == 0
    before = table_state(db)
    bad = tmp_path / "bad.csv"
    frame = pl.read_csv(SAMPLE, infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 516).then(pl.lit("12.3O")).otherwise(pl.col("BilledCost")).alias("BilledCost")
    )
    frame.write_csv(bad)
    result = cli("ingest", "--db", db, bad)
    assert result.code == 2
    assert "bad.csv: row 517, column BilledCost: '12.3O' is not a number" in result.err
    assert "Traceback" not in result.err
    assert table_state(db) == before


def test_wrong_columns_are_refused(cli, db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "not-focus.csv"
    bad.write_text("Date,Cost\n2024-01-01,1.00\n")
    result = cli("ingest", "--db", db, bad)
    assert result.code == 2
    assert "not-focus.csv: not a FOCUS file: missing column(s) BillingPeriodStart" in result.err
    assert not db.exists()  # a failed first load does not leave an empty store behind


def test_truncated_parquet_is_refused_and_store_untouched(cli, db: Path, tmp_path: Path) -> None:
    assert cli("ingest", "--db", db, TOOLKIT[1]).code == 0
    before = table_state(db)
    good = tmp_path / "aws.parquet"
    pl.read_csv(TOOLKIT[0], infer_schema=False).write_parquet(good)
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    result = cli("ingest", "--db", db, good, truncated)
    assert result.code == 2
    assert "truncated.parquet: cannot be read as parquet" in result.err
    assert table_state(db) == before


@pytest.mark.parametrize("money_type", [pl.Decimal(38, 15), pl.Float64])
def test_parquet_with_typed_columns_matches_csv(cli, tmp_path: Path, money_type: pl.DataType) -> None:
    source = TOOLKIT[0]
    typed = pl.read_csv(source, infer_schema=False).with_columns(
        pl.col("BilledCost", "EffectiveCost").cast(money_type),
        pl.col("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd").str.to_datetime(
            "%Y-%m-%dT%H:%M:%SZ", time_zone="UTC"
        ),
    )
    parquet = tmp_path / "typed.parquet"
    typed.write_parquet(parquet)
    csv_db, parquet_db = tmp_path / "csv.duckdb", tmp_path / "parquet.duckdb"
    assert cli("ingest", "--db", csv_db, source).code == 0
    assert cli("ingest", "--db", parquet_db, parquet).code == 0
    from_csv, from_parquet = store_totals(csv_db), store_totals(parquet_db)
    assert from_csv.keys() == from_parquet.keys()
    for key, amounts in from_csv.items():
        # Decimal parquet is exact; float parquet (as CUR 2.0 writes it) still reconciles to the cent.
        assert [a.quantize(CENT) for a in amounts] == [a.quantize(CENT) for a in from_parquet[key]]
        if money_type != pl.Float64:
            assert amounts == from_parquet[key]


def test_the_new_provider_columns_keep_their_meaning(cli, db: Path, tmp_path: Path) -> None:
    """A file with ServiceProviderName and HostProviderName but no ProviderName/PublisherName (FOCUS 1.4's shape):
    both new columns kept as written; ProviderName filled from ServiceProviderName (its spec-named replacement);
    PublisherName left empty (HostProviderName is another entity, never copied into it)."""
    v14 = tmp_path / "focus14.csv"
    frame = pl.read_csv(TOOLKIT[1], infer_schema=False)  # the Azure-flavoured 1.2 sample
    frame = frame.rename({"ProviderName": "ServiceProviderName"}).drop("PublisherName")
    frame.with_columns(HostProviderName=pl.lit("Microsoft Azure")).write_csv(v14)
    assert cli("ingest", "--db", db, v14).code == 0
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("""SELECT DISTINCT "ProviderName", "PublisherName", "ServiceProviderName",
                                     "HostProviderName", "x_FocusVersion" FROM costs""").fetchall()  # fmt: skip
    provider = frame.get_column("ServiceProviderName").unique().to_list()
    assert rows == [(provider[0], None, provider[0], "Microsoft Azure", "1.4")]


def test_folder_ingest_and_gzip(cli, db: Path, tmp_path: Path) -> None:
    import gzip

    folder = tmp_path / "exports"
    folder.mkdir()
    with TOOLKIT[2].open("rb") as src, gzip.open(folder / "gcp.csv.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    shutil.copy(TOOLKIT[0], folder / "aws.csv")
    assert cli("ingest", "--db", db, folder).code == 0
    assert store_totals(db) == independent_totals([TOOLKIT[0], TOOLKIT[2]])


@pytest.mark.parametrize("missing", ["nope.csv", "nope-folder"])
def test_missing_path_is_a_usage_error(cli, db: Path, tmp_path: Path, missing: str) -> None:
    result = cli("ingest", "--db", db, tmp_path / missing)
    assert result.code == 2
    assert "no such file or folder" in result.err


def test_tag_keys_are_normalised_in_the_store(cli, db: Path, tmp_path: Path) -> None:
    frame = pl.read_csv(TOOLKIT[0], infer_schema=False).head(4)
    tags = ['{"Team": "ml", "user:CostCenter": "cc-1"}', '{"resourceTags/user:team": "infra"}', "{}", None]
    frame.with_columns(pl.Series("Tags", tags)).write_csv(tmp_path / "tags.csv")
    assert cli("ingest", "--db", db, tmp_path / "tags.csv").code == 0
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute('SELECT "Tags" FROM costs ORDER BY "Tags"[\'team\'] NULLS LAST').fetchall()
    assert stored == [({"team": "infra"},), ({"team": "ml", "cost_center": "cc-1"},), (None,), (None,)]


def test_batches_give_the_same_store_and_global_row_numbers(db: Path, tmp_path: Path) -> None:
    from finops.connectors.focus_files import read_focus_batches
    from finops.errors import InputError
    from finops.schema import COSTS
    from finops.store import open_store

    batches = list(read_focus_batches(SAMPLE, batch_rows=128))
    assert len(batches) == 8 and sum(b.height for b in batches) == 1000
    with open_store(db) as store:
        result = store.replace_slices(COSTS, batches, checksum="x", inputs=["sample"])
    assert result.rows == 1000
    assert store_totals(db) == independent_totals([SAMPLE])

    bad = tmp_path / "bad.csv"
    frame = pl.read_csv(SAMPLE, infer_schema=False)
    frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 899)
        .then(pl.lit("n/a"))
        .otherwise(pl.col("EffectiveCost"))
        .alias("EffectiveCost")
    ).write_csv(bad)
    with pytest.raises(InputError, match="row 900, column EffectiveCost: 'n/a'"):
        list(read_focus_batches(bad, batch_rows=128))


def test_parquet_map_tags_as_aws_writes_them(cli, db: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pl.read_csv(TOOLKIT[0], infer_schema=False).head(3).drop("Tags")
    table = frame.to_arrow()
    tags = pa.array([[("user:Team", "ml"), ("Env", 'say "hi"')], [], None], type=pa.map_(pa.string(), pa.string()))
    pq.write_table(table.append_column("Tags", tags), tmp_path / "map.parquet")
    assert cli("ingest", "--db", db, tmp_path / "map.parquet").code == 0
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute('SELECT "Tags" FROM costs ORDER BY "Tags"[\'team\'] NULLS LAST').fetchall()
    assert stored == [({"team": "ml", "env": 'say "hi"'},), (None,), (None,)]
