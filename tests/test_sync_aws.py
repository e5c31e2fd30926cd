"""`finops sync` against AWS Data Exports in a moto S3 server: a month loaded, restated and re-synced, a second
sync that writes nothing, and the errors a user meets (access denied, a bad manifest). A CUR 2.0 export whose files
follow AWS's data dictionary (DOUBLE money, string rates with "", MAP columns), months restated to nothing (an empty
manifest, a zero-row file), one period's bad manifest, and an export with no manifest at all."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import boto3
import duckdb
import polars as pl
import pytest
from aws_server import moto_server, point_boto3_at
from conftest import BILLING

AWS_FOCUS = BILLING / "focus-data-toolkit" / "focus_1_2_cost_and_usage_aws.csv"  # billing period 2026-05
BUCKET, PREFIX, EXPORT = "acme-billing", "exports", "focus-daily"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def aws(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> object:
    """boto3 everywhere in this test (finops included) talks to the moto server, with throwaway keys."""
    point_boto3_at(monkeypatch, endpoint)
    s3 = boto3.client("s3")
    existing = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    if BUCKET in existing:
        for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=obj["Key"])
    else:
        s3.create_bucket(Bucket=BUCKET)
    return s3


def publish(s3: object, frame: pl.DataFrame, execution: str, period: str = "2026-05") -> None:
    """Deliver the export as AWS does: data files under data/, then the manifest naming them."""
    data = f"{PREFIX}/{EXPORT}/data/BILLING_PERIOD={period}"
    half = frame.height // 2
    parquet = io.BytesIO()
    frame.head(half).write_parquet(parquet)
    keys = {f"{data}/{EXPORT}-00001.snappy.parquet": parquet.getvalue()}
    keys[f"{data}/{EXPORT}-00002.csv.gz"] = gzip.compress(frame.tail(frame.height - half).write_csv().encode())
    for key, body in keys.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)  # type: ignore[attr-defined]
    manifest = {
        "executionId": execution,
        "exportName": EXPORT,
        "billingPeriod": {"start": f"{period}-01T00:00:00.000Z"},
        "dataFiles": [f"s3://{BUCKET}/{key}" for key in keys],
    }
    s3.put_object(  # type: ignore[attr-defined]
        Bucket=BUCKET,
        Key=f"{PREFIX}/{EXPORT}/metadata/BILLING_PERIOD={period}/{EXPORT}-Manifest.json",
        Body=json.dumps(manifest).encode(),
    )


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "finops.toml"
    config.write_text(
        f'[store]\ndb = "{tmp_path / "store.duckdb"}"\n\n'
        f'[sources.aws-prod]\ntype = "aws-exports"\nbucket = "{BUCKET}"\nprefix = "{PREFIX}"\nexport = "{EXPORT}"\n'
    )
    return config


def totals(db: Path) -> tuple[int, Decimal, Decimal]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows, billed, effective = con.execute(
            'SELECT count(*), sum("BilledCost"), sum("EffectiveCost") FROM costs'
        ).fetchall()[0]
    return rows, billed, effective


def source_totals(frame: pl.DataFrame) -> tuple[int, Decimal, Decimal]:
    rows = list(csv.DictReader(io.StringIO(frame.write_csv())))
    return (
        len(rows),
        sum((Decimal(r["BilledCost"]) for r in rows), Decimal(0)),
        sum((Decimal(r["EffectiveCost"]) for r in rows), Decimal(0)),
    )


def test_sync_loads_restates_and_is_a_no_op_when_nothing_changed(aws: object, cli, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    original = pl.read_csv(AWS_FOCUS, infer_schema=False)
    publish(aws, original, "exec-1")

    first = cli("--config", config, "sync", "--period", "2026-05")
    assert first.code == 0, first.err
    assert first.out == ""  # the summary is for people: stderr
    assert "aws-prod" in first.err and "new" in first.err
    db = tmp_path / "store.duckdb"
    assert totals(db) == source_totals(original)

    again = cli("--config", config, "sync", "--period", "2026-05")
    assert again.code == 0 and "nothing new" in again.err
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT load_id) FROM loads").fetchall() == [(1,)]

    # AWS restates the month: costs change, rows are added, and a correction line arrives.
    restated = original.with_columns(
        pl.when(pl.int_range(pl.len()) % 10 == 0)
        .then((pl.col("BilledCost").cast(pl.Decimal(38, 15)) * 2).cast(pl.String))
        .otherwise(pl.col("BilledCost"))
        .alias("BilledCost")
    )
    correction = original.head(1).with_columns(
        pl.lit("Correction").alias("ChargeClass"),
        pl.lit("-12.345678").alias("BilledCost"),
        pl.lit("-12.345678").alias("EffectiveCost"),
    )
    restated = pl.concat([restated, original.head(25), correction])
    publish(aws, restated, "exec-2")
    third = cli("--config", config, "sync", "--period", "2026-05")
    assert third.code == 0, third.err
    assert "replaced" in third.err
    assert totals(db) == source_totals(restated)  # replaced, not appended: no duplicates
    with duckdb.connect(str(db), read_only=True) as con:
        latest = con.execute(
            "SELECT rows, previous_rows, previous_billed_total FROM loads ORDER BY loaded_at DESC LIMIT 1"
        ).fetchall()[0]
    assert latest[0] == restated.height and latest[1] == original.height
    assert latest[2] == source_totals(original)[1]


def test_report_after_sync_shows_the_aws_spend_by_team(aws: object, cli, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    publish(aws, pl.read_csv(AWS_FOCUS, infer_schema=False), "exec-1")
    assert cli("--config", config, "sync", "--period", "2026-05").code == 0
    report = cli("--config", config, "report", "--period", "2026-05", "--format", "json")
    assert report.code == 0, report.err
    data = json.loads(report.out)
    assert Decimal(data["total"]["amount"]) == source_totals(pl.read_csv(AWS_FOCUS, infer_schema=False))[2]
    teams = {line["key"] for b in data["breakdowns"] if b["dimension"] == "team" for line in b["lines"]}
    assert {"team-data", "team-platform"} <= teams  # the export's Owner tag, normalised


def test_a_manifest_without_data_files_is_a_source_error(aws: object, cli, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    aws.put_object(  # type: ignore[attr-defined]
        Bucket=BUCKET,
        Key=f"{PREFIX}/{EXPORT}/metadata/BILLING_PERIOD=2026-05/{EXPORT}-Manifest.json",
        Body=b'{"executionId": "x"}',
    )
    result = cli("--config", config, "sync", "--period", "2026-05")
    assert result.code == 3
    assert "manifest lists no data files" in result.err and "executionId" in result.err
    assert not (tmp_path / "store.duckdb").exists()


def test_access_denied_gives_exit_3_and_a_hint(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # A second server that enforces IAM: the first two calls (create user, create key) go unauthenticated,
    # then the new user, who has no policy at all, is refused by S3 as AWS would refuse it.
    with moto_server({"INITIAL_NO_AUTH_ACTION_COUNT": "2"}) as url:
        point_boto3_at(monkeypatch, url, "admin", "admin")
        iam = boto3.client("iam")
        iam.create_user(UserName="reader")
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        point_boto3_at(monkeypatch, url, key["AccessKeyId"], key["SecretAccessKey"])
        result = cli("--config", write_config(tmp_path), "sync", "--period", "2026-05")
    assert result.code == 3
    assert "access denied" in result.err and "s3:GetObject" in result.err
    assert key["SecretAccessKey"] not in result.err + result.out  # credentials are never printed


def test_config_errors_name_the_file_and_key(cli, tmp_path: Path) -> None:
    config = tmp_path / "finops.toml"
    config.write_text('[sources.aws]\ntype = "aws-exports"\nbucket = "b"\nexport = "e"\nbuckett = "x"\n')
    result = cli("--config", config, "sync")
    assert result.code == 2
    assert f"{config}: unknown key sources.aws.buckett" in result.err and "did you mean 'bucket'" in result.err
    config.write_text('[sources.aws]\ntype = "aws-export"\n')
    result = cli("--config", config, "sync")
    assert result.code == 2 and "did you mean 'aws-exports'" in result.err
    config.write_text('[sources.aws]\ntype = "aws-exports"\nbucket = "b"\nexport = "e"\nmonths = "two"\n')
    result = cli("--config", config, "sync")
    assert result.code == 2 and "sources.aws.months must be a int" in result.err


def test_config_show_says_where_each_value_came_from(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path)
    shown = cli("--config", config, "config", "show")
    assert shown.code == 0
    assert "sources.aws-prod.bucket" in shown.out and str(config) in shown.out
    monkeypatch.setenv("FINOPS_DB", str(tmp_path / "env.duckdb"))
    shown = cli("--config", config, "config", "show")
    assert "env.duckdb" in shown.out and "FINOPS_DB" in shown.out


def test_doctor_checks_credentials_export_and_freshness(aws: object, cli, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    period = datetime.now(UTC).strftime("%Y-%m")  # doctor looks at the window ending today
    config = write_config(tmp_path)
    publish(aws, pl.read_csv(AWS_FOCUS, infer_schema=False), "exec-1", period=period)

    before = cli("--config", config, "doctor", "aws")
    assert before.code == 3  # never loaded yet
    assert "ok   aws-prod: credentials: signed in to account" in before.out
    assert f"ok   aws-prod: export {period}: manifest lists 2 file(s)" in before.out
    assert "FAIL store: database: no database at" in before.out and "testing" not in before.out

    assert cli("--config", config, "sync").code == 0
    after = cli("--config", config, "doctor")
    assert after.code == 0, after.out
    assert "FAIL" not in after.out and "aws-prod: freshness: last loaded" in after.out


def test_doctor_names_a_missing_export(aws: object, cli, tmp_path: Path) -> None:
    result = cli("--config", write_config(tmp_path), "doctor", "aws-prod")
    assert result.code == 3
    assert "FAIL aws-prod: export: no manifest under s3://acme-billing/exports/focus-daily" in result.out


KILLED_SYNC = """
import sys, time
import finops.frames as frames
real = frames.conform
calls = []
def paused(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:  # the first file's rows are inserted, inside the open transaction
        print("half-written", flush=True)
        time.sleep(60)
    return real(*args, **kwargs)
frames.conform = paused
from finops.cli import run
sys.exit(run(["--config", sys.argv[1], "sync", "--period", "2026-05"]))
"""


def test_a_sync_killed_mid_load_leaves_the_previous_data(aws: object, cli, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    config = write_config(tmp_path)
    original = pl.read_csv(AWS_FOCUS, infer_schema=False)
    publish(aws, original, "exec-1")
    assert cli("--config", config, "sync", "--period", "2026-05").code == 0
    before = totals(tmp_path / "store.duckdb")

    publish(aws, pl.concat([original, original.head(100)]), "exec-2")
    sync = subprocess.Popen([sys.executable, "-c", KILLED_SYNC, str(config)], stdout=subprocess.PIPE, text=True)
    try:
        assert sync.stdout is not None and sync.stdout.readline().strip() == "half-written"
        os.kill(sync.pid, signal.SIGKILL)
    finally:
        sync.wait(timeout=30)
    assert totals(tmp_path / "store.duckdb") == before
    # and the next sync completes the restatement
    assert cli("--config", config, "sync", "--period", "2026-05").code == 0
    assert totals(tmp_path / "store.duckdb")[0] == original.height + 100


def put_period(s3: object, period: str, files: dict[str, bytes], manifest: bytes | None = None) -> None:
    """One billing period of a CUR 2.0 export as AWS delivers it: the data files, then the manifest naming them
    (or the given manifest body)."""
    data = f"{PREFIX}/{EXPORT}/data/BILLING_PERIOD={period}"
    for name, body in files.items():
        s3.put_object(Bucket=BUCKET, Key=f"{data}/{name}", Body=body)  # type: ignore[attr-defined]
    listed = {"executionId": f"cur-{period}", "dataFiles": [f"s3://{BUCKET}/{data}/{name}" for name in files]}
    s3.put_object(  # type: ignore[attr-defined]
        Bucket=BUCKET,
        Key=f"{PREFIX}/{EXPORT}/metadata/BILLING_PERIOD={period}/{EXPORT}-Manifest.json",
        Body=manifest if manifest is not None else json.dumps(listed).encode(),
    )


def cur2_files(period: str, tmp_path: Path) -> dict[str, bytes]:
    """The period's line items in two parquet files, every column of the CUR 2.0 dictionary typed as AWS types it
    (test_aws_cur.write_cur2_as_aws): DOUBLE money, string rates with "", MAP columns."""
    from test_aws_cur import aws_rows, write_cur2_as_aws

    rows = aws_rows(period)
    half = len(rows) // 2
    return {
        f"{EXPORT}-0000{i + 1}.snappy.parquet": write_cur2_as_aws(part, tmp_path / f"{period}-{i}.parquet").read_bytes()
        for i, part in enumerate((rows[:half], rows[half:]))
    }


def period_totals(db: Path) -> dict[str, tuple[int, Decimal, Decimal]]:
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            """SELECT strftime("BillingPeriodStart", '%Y-%m'), count(*), sum("BilledCost"), sum("EffectiveCost")
               FROM costs GROUP BY ALL"""
        ).fetchall()
    return {period: (n, billed, effective) for period, n, billed, effective in rows}


def test_sync_reads_a_cur_2_export_as_aws_writes_it(aws: object, cli, tmp_path: Path) -> None:
    from test_aws_cur import AWS_ROWS_BILLED, AWS_ROWS_EFFECTIVE, aws_rows

    for period in ("2024-05", "2024-06"):
        put_period(aws, period, cur2_files(period, tmp_path))
    config = write_config(tmp_path)
    result = cli("--config", config, "sync", "--period", "2024-05", "--period", "2024-06")
    assert result.code == 0, result.err
    # Worked out by hand in test_aws_cur (CASES, the float line, a negation offsetting 6.20 of a 16.97 covered
    # line): the unblended total is kept, to the digit, in each period.
    count = len(aws_rows())
    assert period_totals(tmp_path / "store.duckdb") == {
        "2024-05": (count, AWS_ROWS_BILLED, AWS_ROWS_EFFECTIVE),
        "2024-06": (count, AWS_ROWS_BILLED, AWS_ROWS_EFFECTIVE),
    }

    # AWS restates May to nothing: its manifest lists no files. The month is emptied and the summary says so.
    put_period(aws, "2024-05", {})
    emptied = cli("--config", config, "sync", "--period", "2024-05", "--period", "2024-06")
    assert emptied.code == 0, emptied.err
    assert "emptied" in emptied.err and "unchanged" in emptied.err
    assert period_totals(tmp_path / "store.duckdb") == {"2024-06": (count, AWS_ROWS_BILLED, AWS_ROWS_EFFECTIVE)}
    with duckdb.connect(str(tmp_path / "store.duckdb"), read_only=True) as con:
        (rows, previous), *_ = con.execute(
            "SELECT rows, previous_rows FROM loads ORDER BY loaded_at DESC LIMIT 1"
        ).fetchall()
    assert (rows, previous) == (0, count)


def test_a_zero_row_data_file_empties_its_period(aws: object, cli, tmp_path: Path) -> None:
    from test_aws_cur import write_cur2_as_aws

    put_period(aws, "2024-06", cur2_files("2024-06", tmp_path))
    config = write_config(tmp_path)
    assert cli("--config", config, "sync", "--period", "2024-06").code == 0
    empty = write_cur2_as_aws([], tmp_path / "empty.parquet")  # every column of the dictionary, no rows
    put_period(aws, "2024-06", {f"{EXPORT}-00001.snappy.parquet": empty.read_bytes()})
    result = cli("--config", config, "sync", "--period", "2024-06")
    assert result.code == 0, result.err
    assert "emptied" in result.err
    assert period_totals(tmp_path / "store.duckdb") == {}


def test_a_bad_manifest_fails_its_period_only(aws: object, cli, tmp_path: Path) -> None:
    from test_aws_cur import AWS_ROWS_BILLED

    put_period(aws, "2024-05", cur2_files("2024-05", tmp_path), manifest=b'{"executionId": "cur-2024-05", "dataF')
    put_period(aws, "2024-06", cur2_files("2024-06", tmp_path))
    result = cli("--config", write_config(tmp_path), "sync", "--period", "2024-05", "--period", "2024-06")
    assert result.code == 3  # the source's answer could not be used: exit 3, as for any source error
    manifest = f"s3://{BUCKET}/{PREFIX}/{EXPORT}/metadata/BILLING_PERIOD=2024-05/{EXPORT}-Manifest.json"
    assert "1 of 2 period(s) failed; the others were committed" in result.err
    assert f"aws-prod 2024-05: {manifest}: manifest is not JSON" in result.err
    totals = period_totals(tmp_path / "store.duckdb")
    assert set(totals) == {"2024-06"} and totals["2024-06"][1] == AWS_ROWS_BILLED


def test_an_export_with_no_manifest_names_what_was_looked_for(aws: object, cli, tmp_path: Path) -> None:
    put_period(aws, "2024-06", cur2_files("2024-06", tmp_path))  # delivered, but under another export name
    config = tmp_path / "finops.toml"
    config.write_text(
        f'[store]\ndb = "{tmp_path / "store.duckdb"}"\n\n'
        f'[sources.aws-prod]\ntype = "aws-exports"\nbucket = "{BUCKET}"\nprefix = "{PREFIX}"\nexport = "Focus-Daily"\n'
    )
    result = cli("--config", config, "sync", "--period", "2024-05", "--period", "2024-06")
    assert result.code == 3
    assert f"no manifest under s3://{BUCKET}/{PREFIX}/Focus-Daily for 2 billing period(s); looked for:" in result.err
    for period in ("2024-05", "2024-06"):
        key = f"s3://{BUCKET}/{PREFIX}/Focus-Daily/metadata/BILLING_PERIOD={period}/Focus-Daily-Manifest.json"
        assert key in result.err
    assert "check bucket, prefix and export in finops.toml" in result.err and "case-sensitive" in result.err
    assert not (tmp_path / "store.duckdb").exists()
    # One month missing among present ones is no error: that month is skipped.
    ok = cli("--config", write_config(tmp_path), "sync", "--period", "2024-05", "--period", "2024-06")
    assert ok.code == 0, ok.err
    assert set(period_totals(tmp_path / "store.duckdb")) == {"2024-06"}


def test_a_relative_store_path_is_relative_to_the_config_file(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    config = tmp_path / "conf" / "finops.toml"
    config.write_text('[store]\ndb = "data/finops.duckdb"\n')
    monkeypatch.chdir(tmp_path)
    shown = cli("--config", config, "config", "show")
    assert f"store.db = '{tmp_path / 'conf' / 'data' / 'finops.duckdb'}'" in shown.out


def test_an_export_arn_is_resolved_through_data_exports() -> None:
    """bcm-data-exports is not in moto: its GetExport answer is recorded (botocore's Stubber)."""
    from botocore.stub import Stubber

    from finops.connectors.aws_exports import resolve_export

    arn = "arn:aws:bcm-data-exports:us-east-1:123456789012:export/focus-daily-1a2b"
    client = boto3.client("bcm-data-exports", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    answer = {
        "Export": {
            "ExportArn": arn,
            "Name": EXPORT,
            "DataQuery": {"QueryStatement": "SELECT * FROM FOCUS_1_0_AWS"},
            "DestinationConfigurations": {
                "S3Destination": {
                    "S3Bucket": BUCKET, "S3Prefix": PREFIX, "S3Region": "eu-west-1",
                    "S3OutputConfigurations": {"OutputType": "CUSTOM", "Format": "PARQUET", "Compression": "PARQUET",
                                               "Overwrite": "OVERWRITE_REPORT"},
                }
            },
            "RefreshCadence": {"Frequency": "SYNCHRONOUS"},
        }
    }  # fmt: skip
    with Stubber(client) as stub:
        stub.add_response("get_export", answer, {"ExportArn": arn})
        settings = resolve_export(
            {"export_arn": arn, "bucket": None, "export": None, "prefix": "", "region": None}, client
        )
    assert (settings["bucket"], settings["prefix"], settings["export"], settings["region"]) == (
        BUCKET,
        PREFIX,
        EXPORT,
        "eu-west-1",
    )


def test_an_export_needs_an_arn_or_a_bucket_and_name(cli, tmp_path: Path) -> None:
    config = tmp_path / "finops.toml"
    config.write_text('[sources.aws]\ntype = "aws-exports"\nbucket = "b"\n')
    result = cli("--config", config, "sync")
    assert result.code == 2 and "sources.aws: give either export_arn, or bucket and export" in result.err


def test_a_missing_bucket_is_named(aws: object, cli, tmp_path: Path) -> None:
    config = tmp_path / "finops.toml"
    config.write_text('[sources.aws]\ntype = "aws-exports"\nbucket = "no-such-bucket-here"\nexport = "e"\n')
    result = cli("--config", config, "sync", "--period", "2026-05", "--db", tmp_path / "s.duckdb")
    assert result.code == 3 and "no such bucket" in result.err and "check the bucket name" in result.err
    assert not (tmp_path / "s.duckdb").exists()
