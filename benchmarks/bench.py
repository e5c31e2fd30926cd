"""finops against baselines run in the same process, printed as ratios.

    uv run python benchmarks/bench.py            # 10M rows (about 2 minutes to generate the first time)
    uv run python benchmarks/bench.py --rows 1000000

1. `finops --help` start-up against a bare `python -c pass`.
2. `finops ingest` of a generated FOCUS parquet file against DuckDB's own
   `CREATE TABLE AS SELECT * FROM read_parquet(...)` on the same file.
3. `finops report` on that store against the same aggregates written by hand as plain DuckDB group-bys.

Targets (issue #2): --help imports none of duckdb/polars/cloud SDKs; ingest within 1.5x; report within 2x.
Timings are medians of a few runs; nothing here is asserted, the numbers are printed for people to read.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

HERE = Path(__file__).parent
DATA = HERE / ".data"


def median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def generate(rows: int) -> Path:
    """A complete FOCUS 1.2 parquet file (all 57 columns, as provider exports write them: sparse columns
    present but mostly NULL), shaped like a provider export: typed timestamps, DOUBLE money (as CUR 2.0 writes
    it), JSON tags, tens of thousands of resources across three providers and 30 services."""
    path = DATA / f"focus12_{rows}.parquet"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    print(f"generating {rows:,} FOCUS rows into {path} ...", file=sys.stderr)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(
        f"""
        COPY (
        SELECT
            CASE WHEN i % 50 = 0 THEN ['us-east-1a', 'us-central1-b', '1'][1 + i % 3] END AS AvailabilityZone,
            round((hash(i) % 100000) / 1000.0, 6) AS BilledCost,
            lpad(CAST(100000000 + i % 3 AS VARCHAR), 12, '0') AS BillingAccountId,
            'Account ' || (i % 3) AS BillingAccountName,
            'Billing Account' AS BillingAccountType,
            'USD' AS BillingCurrency,
            TIMESTAMP '2026-09-01' + INTERVAL (((i // 97) % 3)) MONTH AS BillingPeriodEnd,
            TIMESTAMP '2026-08-01' + INTERVAL (((i // 97) % 3)) MONTH AS BillingPeriodStart,
            CAST(NULL AS VARCHAR) AS CapacityReservationId,
            CAST(NULL AS VARCHAR) AS CapacityReservationStatus,
            CASE WHEN i % 1000 = 0 THEN 'Tax' WHEN i % 997 = 0 THEN 'Credit' ELSE 'Usage' END AS ChargeCategory,
            CAST(NULL AS VARCHAR) AS ChargeClass,
            'Usage of service ' || (i % 30) AS ChargeDescription,
            'Usage-Based' AS ChargeFrequency,
            TIMESTAMP '2026-08-01' + INTERVAL (((i // 97) % 3)) MONTH + INTERVAL (i % 720 + 1) HOUR AS ChargePeriodEnd,
            TIMESTAMP '2026-08-01' + INTERVAL (((i // 97) % 3)) MONTH + INTERVAL (i % 720) HOUR AS ChargePeriodStart,
            CASE WHEN i % 9 = 0 THEN 'Spend' END AS CommitmentDiscountCategory,
            CASE WHEN i % 9 = 0 THEN 'sp-' || (i % 4) END AS CommitmentDiscountId,
            CASE WHEN i % 9 = 0 THEN 'Savings Plan ' || (i % 4) END AS CommitmentDiscountName,
            CASE WHEN i % 9 = 0 THEN 1.0 END AS CommitmentDiscountQuantity,
            CASE WHEN i % 9 = 0 THEN 'Used' END AS CommitmentDiscountStatus,
            CASE WHEN i % 9 = 0 THEN 'Savings Plan' END AS CommitmentDiscountType,
            CASE WHEN i % 9 = 0 THEN 'USD' END AS CommitmentDiscountUnit,
            1.0 AS ConsumedQuantity,
            'Hours' AS ConsumedUnit,
            round((hash(i) % 100000) / 1000.0, 6) AS ContractedCost,
            round((hash(i) % 1000) / 1000.0, 6) AS ContractedUnitPrice,
            round((hash(i) % 100000) / 1100.0, 6) AS EffectiveCost,
            'INV-2026-' || (((i // 97) % 3) + 8) AS InvoiceId,
            ['AWS', 'Google Cloud', 'Microsoft Azure'][1 + i % 3] AS InvoiceIssuerName,
            round((hash(i) % 100000) / 900.0, 6) AS ListCost,
            round((hash(i) % 1000) / 900.0, 6) AS ListUnitPrice,
            CASE WHEN i % 9 = 0 THEN 'Committed' ELSE 'Standard' END AS PricingCategory,
            CAST(NULL AS VARCHAR) AS PricingCurrency,
            CAST(NULL AS DOUBLE) AS PricingCurrencyContractedUnitPrice,
            CAST(NULL AS DOUBLE) AS PricingCurrencyEffectiveCost,
            CAST(NULL AS DOUBLE) AS PricingCurrencyListUnitPrice,
            1.0 AS PricingQuantity,
            'Hours' AS PricingUnit,
            ['AWS', 'Google Cloud', 'Microsoft Azure'][1 + i % 3] AS ProviderName,
            ['AWS', 'Google Cloud', 'Microsoft Azure'][1 + i % 3] AS PublisherName,
            ['us-east-1', 'us-central1', 'eastus', 'eu-west-1'][1 + i % 4] AS RegionId,
            ['US East (N. Virginia)', 'Iowa', 'East US', 'EU (Ireland)'][1 + i % 4] AS RegionName,
            'res-' || (hash(i // 7) % 20000) AS ResourceId,
            'resource ' || (hash(i // 7) % 20000) AS ResourceName,
            ['Instance', 'Bucket', 'Volume', 'Cluster'][1 + ((i // 7) % 4)] AS ResourceType,
            'Compute' AS ServiceCategory,
            'Service ' || (i % 30) AS ServiceName,
            'Virtual Machines' AS ServiceSubcategory,
            'SKU-' || (i % 500) AS SkuId,
            'Compute' AS SkuMeter,
            CASE WHEN i % 3 = 0
                 THEN '{{"InstanceType": "' || ['p5.48xlarge', 'm6i.large', 'g5.xlarge'][1 + (i // 3) % 3] || '"}}'
                 END AS SkuPriceDetails,
            'SKUP-' || (i % 700) AS SkuPriceId,
            lpad(CAST(200000000 + (i // 3) % 40 AS VARCHAR), 12, '0') AS SubAccountId,
            'project-' || ((i // 3) % 40) AS SubAccountName,
            'Linked Account' AS SubAccountType,
            CASE WHEN i % 11 = 0 THEN NULL
                 ELSE '{{"team": "team-' || (hash(i // 7) % 12) || '", "env": "' || ['prod', 'dev'][1 + i % 2]
                      || '", "app": "app-' || (hash(i // 7) % 400) || '"}}' END AS Tags
        FROM range({rows}) t(i)
        ) TO '{path}' (FORMAT parquet)
        """
    )
    con.close()
    return path


def bench_startup(runs: int) -> None:
    finops = Path(sys.executable).parent / "finops"
    bare = median_time(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), runs)
    help_ = median_time(lambda: subprocess.run([str(finops), "--help"], check=True, capture_output=True), runs)
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys,io,contextlib\nfrom finops.cli import run\n"
            "with contextlib.redirect_stdout(io.StringIO()): run(['--help'])\n"
            "heavy = ('duckdb', 'polars', 'pyarrow', 'boto3', 'google.cloud', 'azure')\n"
            "print(','.join(m for m in heavy if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    print(
        f"startup  python -c pass {bare * 1000:7.0f} ms | finops --help {help_ * 1000:7.0f} ms | "
        f"ratio {help_ / bare:5.2f}x | heavy modules loaded by --help: {probe.stdout.strip() or 'none'}"
    )


def bench_ingest(parquet: Path, work: Path, runs: int, *, streaming: bool) -> Path:
    from finops.ingest import ingest_focus

    def raw() -> None:
        target = work / "raw.duckdb"
        target.unlink(missing_ok=True)
        with duckdb.connect(str(target)) as con:
            # The settings the store uses, so the baseline gets the same help.
            con.execute("SET preserve_insertion_order = false")
            con.execute(f"CREATE TABLE costs AS SELECT * FROM read_parquet('{parquet}')")

    def ours(direct: bool = True) -> None:
        target = work / "finops.duckdb"
        target.unlink(missing_ok=True)
        result = ingest_focus(target, [parquet], source="bench", direct=direct)
        assert result.reader == ("duckdb" if direct else "stream"), result.reader

    raw_s, ours_s = median_time(raw, runs), median_time(ours, runs)
    print(
        f"ingest   raw CTAS {raw_s:7.2f} s | finops ingest {ours_s:7.2f} s | ratio {ours_s / raw_s:5.2f}x (target 1.5x)"
    )
    if streaming:  # the checked path, which files DuckDB cannot read directly (CSV, CUR, loose values) take
        stream_s = median_time(lambda: ours(direct=False), runs)
        print(f"ingest   streaming path {stream_s:7.2f} s | ratio {stream_s / raw_s:5.2f}x")
        ours()  # the store the report benchmark reads
    return work / "finops.duckdb"


RAW_QUERIES = [
    "SELECT sum(EffectiveCost) FROM costs WHERE ChargePeriodStart >= $s AND ChargePeriodStart < $e",
    *(
        f"SELECT {dim}, sum(EffectiveCost) FROM costs "
        "WHERE ChargePeriodStart >= $s AND ChargePeriodStart < $e GROUP BY ALL"
        for dim in (
            "ProviderName",
            "ServiceName",
            "Tags['team']",
            "ResourceId",
            "date_trunc('day', ChargePeriodStart), ProviderName",
        )
    ),
]


def bench_report(store: Path, runs: int) -> None:
    from datetime import UTC, datetime

    from finops.report import ReportOptions, build_report

    options = ReportOptions(period="2026-10-01..2026-10-31", as_of="2026-10-31")
    ours_s = median_time(lambda: build_report(store, options), runs)

    def raw() -> None:
        with duckdb.connect(str(store), read_only=True) as con:
            params = {"s": datetime(2026, 10, 1, tzinfo=UTC), "e": datetime(2026, 11, 1, tzinfo=UTC)}
            for sql in RAW_QUERIES:  # the current period and the one before, as a person would write them
                con.execute(sql, params).fetchall()
                con.execute(sql, {"s": datetime(2026, 9, 1, tzinfo=UTC), "e": params["s"]}).fetchall()

    raw_s = median_time(raw, runs)
    print(
        f"report   raw group-bys {raw_s:7.2f} s | finops report {ours_s:7.2f} s | "
        f"ratio {ours_s / raw_s:5.2f}x (target 2x)"
    )


def peak_memory(parquet: Path, work: Path, limit: str | None) -> float:
    """Peak resident memory (MiB) of a `finops ingest` process, with or without --memory-limit: the kernel's own
    high-water mark of the process's address space (VmHWM), read until it exits. Not `ru_maxrss` from wait4: the
    kernel folds the parent's resident size at fork into the child's (this process holds gigabytes by then)."""
    target = work / "rss.duckdb"
    target.unlink(missing_ok=True)
    command = [sys.executable, "-m", "finops", "--quiet", *(["--memory-limit", limit] if limit else []), "ingest",
               str(parquet), "--db", str(target), "--source", "bench"]  # fmt: skip
    process = subprocess.Popen(command)
    high = 0
    while process.poll() is None:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
            high = max(high, next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")))
        except (OSError, StopIteration):
            pass
        time.sleep(0.2)
    if process.returncode != 0:
        raise RuntimeError(f"{command} failed: {process.returncode}")
    return high / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="10000000", help="row counts, comma-separated: the growth curve")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--streaming", action="store_true", help="also time the checked streaming ingest path")
    parser.add_argument("--memory-limit", default=None, help="also measure ingest's peak memory under this limit")
    args = parser.parse_args()
    bench_startup(max(args.runs, 5))
    for rows in (int(r) for r in args.rows.split(",")):
        parquet = generate(rows)
        print(f"data     {rows:,} rows, {parquet.stat().st_size / 1e6:.0f} MB parquet")
        with tempfile.TemporaryDirectory(dir=DATA) as tmp:
            store = bench_ingest(parquet, Path(tmp), args.runs, streaming=args.streaming)
            bench_report(store, args.runs)
            if args.memory_limit:
                free = peak_memory(parquet, Path(tmp), None)
                bounded = peak_memory(parquet, Path(tmp), args.memory_limit)
                print(f"memory   ingest peak RSS {free:7.0f} MiB | with --memory-limit {args.memory_limit} "
                      f"{bounded:7.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
