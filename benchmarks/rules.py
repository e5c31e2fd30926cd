"""All rules at scale: anomaly detection over up to 100k daily cost series, against DuckDB itself on the same store.

    uv run python benchmarks/rules.py                                  # 10k, 30k and 100k series, 90 days each
    uv run python benchmarks/rules.py --series 100000 --spark          # and the heavy tier on local Spark

The data: one FOCUS line item per (provider, service, team) series per day, with weekday seasonality, noise and
a planted spike in one series of every thousand, loaded through `finops ingest`. Timed, medians of `--runs`:

- baseline: each rule as one hand-written DuckDB query (its heavy-tier queries inlined as CTEs into its
  statistical tier: the same computation, no finops in between), run on a read-only connection to the store;
- finops: `finops rules run` for the period, minus the terminal rendering (`run_findings`: both tiers, the Arrow
  hand-over between them, and storing the findings).

Nothing is asserted; the figures are printed for people to read (benchmarks/README.md keeps them).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
from bench import median_time  # this folder is on the path when a script here runs

from finops.findings import run_findings
from finops.gpu_hours import with_gpu_hours
from finops.rules_engine import Rule, bound_values, load_rules

DAYS = 90
FIRST = date(2026, 8, 1)
PERIOD = f"{FIRST + timedelta(days=DAYS - 30)}..{FIRST + timedelta(days=DAYS - 1)}"


def generate(series: int, folder: Path) -> Path:
    path = folder / f"series_{series}.parquet"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # Every series: a base cost from a hash, x0.6 on weekends, +-5 % noise; every 1000th spikes x3, 10 days from the end
    con.execute(f"""
        COPY (
            WITH grid AS (
                SELECT s, d, TIMESTAMPTZ '{FIRST} 00:00:00+00' + to_days(CAST(d AS INTEGER)) AS day,
                       100 + (hash(s) % 9000) AS base
                FROM range({series}) r(s), range({DAYS}) t(d)
            )
            SELECT ['AWS', 'Google Cloud', 'Microsoft'][1 + s % 3] AS ProviderName,
                   'Service ' || (s % 500) AS ServiceName,
                   '{{"team": "team-' || (s // 500) || '"}}' AS Tags,
                   'Usage' AS ChargeCategory, 'USD' AS BillingCurrency,
                   day AS ChargePeriodStart, day + INTERVAL 1 DAY AS ChargePeriodEnd,
                   date_trunc('month', day) AS BillingPeriodStart,
                   date_trunc('month', day) + INTERVAL 1 MONTH AS BillingPeriodEnd,
                   round(base * CASE WHEN dayofweek(day) IN (0, 6) THEN 0.6 ELSE 1 END
                         * (0.95 + (hash(s * 1000 + d) % 1000) / 10000.0)
                         * CASE WHEN s % 1000 = 0 AND d = {DAYS - 10} THEN 3 ELSE 1 END, 2) AS EffectiveCost,
                   EffectiveCost AS BilledCost
            FROM grid
        ) TO '{path}' (FORMAT parquet)
    """)
    return path


def one_query(rule: Rule) -> str:
    """The rule as one hand-written query: the heavy tier's queries as CTEs in front of the statistical tier (and
    the definition of `gpu_hours` in front of those, where a rule reads it)."""
    ctes = ", ".join(f"{q.name} AS ({q.sql})" for q in rule.heavy)
    stat = rule.sql.strip()
    if stat[:4].upper() == "WITH":
        return with_gpu_hours(f"WITH {ctes}, {stat[4:]}")
    return with_gpu_hours(f"WITH {ctes} {stat}")


def bound(rule: Rule) -> dict[str, Any]:
    return bound_values(rule, {}, FIRST + timedelta(days=DAYS - 30), FIRST + timedelta(days=DAYS))


def raw(db: Path, rules: list[Rule]) -> int:
    import re

    con = duckdb.connect(str(db), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    found = 0
    for rule in rules:
        sql = one_query(rule)
        names = set(re.findall(r"\$([A-Za-z_]\w*)", sql))
        found += len(con.execute(sql, {k: v for k, v in bound(rule).items() if k in names}).fetchall())
    con.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", default="10000,30000,100000", help="comma-separated series counts")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--spark", action="store_true", help="also time the heavy tier on Spark in local mode")
    parser.add_argument("--no-duckdb", action="store_true", help="skip the DuckDB timings (with --spark)")
    args = parser.parse_args()
    from finops.cli import run

    rules = load_rules()
    anomaly = [r for r in rules if r.id == "ANO001"]
    print(f"rules benchmark: {DAYS} days per series, period {PERIOD}, {os.cpu_count()} cores, runs {args.runs}")
    for series in (int(s) for s in args.series.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            folder, db = Path(tmp), Path(tmp) / "rules.duckdb"
            source = generate(series, folder)
            started = time.perf_counter()
            if run(["--quiet", "ingest", str(source), "--db", str(db)]) != 0:
                sys.exit("ingest failed")
            loaded = time.perf_counter() - started
            findings = raw(db, anomaly)
            for label, chosen, ids in (
                () if args.no_duckdb else (("ANO001", anomaly, ["ANO001"]), ("all rules", rules, []))
            ):
                base = median_time(lambda db=db, chosen=chosen: raw(db, chosen), args.runs)
                mine = median_time(lambda db=db, ids=ids: run_findings(db, None, ids, PERIOD, None, []), args.runs)
                found = f" | {findings} findings, {-(-series // 1000)} planted" if label == "ANO001" else ""
                print(
                    f"{series:>7,} series ({series * DAYS / 1e6:.1f}M rows, ingest {loaded:5.1f} s) {label:<9} "
                    f"raw DuckDB {base:6.2f} s | finops {mine:6.2f} s | ratio {mine / base:5.2f}x{found}"
                )
            if args.spark:
                spark_time(db, rules, series)


def spark_time(db: Path, rules: list[Rule], series: int) -> None:
    from finops.spark_engine import spark_engine
    from finops.spark_settings import SparkSettings

    started = time.perf_counter()
    with spark_engine(SparkSettings("local[*]"), db) as spark:
        ready = time.perf_counter()
        run_findings(db, None, [], PERIOD, None, [], engine=spark)
        done = time.perf_counter()
    print(
        f"{series:>7,} series  all rules on local Spark: session and staging {ready - started:6.2f} s, "
        f"rules {done - ready:6.2f} s (figures for scale only: one machine is not where Spark pays)"
    )


if __name__ == "__main__":
    main()
