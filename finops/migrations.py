"""Schema migrations: version N is the list of statements that take a store from N-1 to N.

Append a version, never edit one that has shipped: stores in the field are at every version.
"""

from __future__ import annotations

from finops.schema import (
    CANONICAL_TABLES,
    CONTRACT_COMMITMENTS,
    FOCUS_1_3_COLUMNS,
    FOCUS_1_4_COLUMNS,
    TABLES_ADDED_LATER,
    create_table_sql,
)

_V1 = [
    "CREATE TABLE finops_meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    *(create_table_sql(table, version=1) for name, table in CANONICAL_TABLES.items() if name not in TABLES_ADDED_LATER),
    """
    CREATE TABLE loads (
        load_id VARCHAR NOT NULL,
        table_name VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        slice VARCHAR NOT NULL,
        loaded_at TIMESTAMPTZ NOT NULL,
        rows BIGINT NOT NULL,
        billed_total DECIMAL(38, 15),
        effective_total DECIMAL(38, 15),
        previous_rows BIGINT NOT NULL,
        previous_billed_total DECIMAL(38, 15),
        previous_effective_total DECIMAL(38, 15),
        checksum VARCHAR NOT NULL,
        inputs VARCHAR[],
        finops_version VARCHAR NOT NULL
    )
    """,
]

# CloudWatch reports latency as statistics, not histograms: keep its p95 and mean beside the buckets.
_V2 = [
    "ALTER TABLE usage_metrics ADD COLUMN latency_p95_s DOUBLE",
    "ALTER TABLE usage_metrics ADD COLUMN latency_mean_s DOUBLE",
]

# Findings of rules, one row per fingerprint (rule, subject, period): later runs know what is new.
_V3 = [
    """
    CREATE TABLE findings (
        fingerprint VARCHAR PRIMARY KEY,
        rule_id VARCHAR NOT NULL,
        severity VARCHAR NOT NULL,
        subject VARCHAR NOT NULL,
        amount DECIMAL(38, 15),
        currency VARCHAR,
        period_start DATE NOT NULL,
        period_end DATE NOT NULL,
        message VARCHAR NOT NULL,
        evidence JSON,
        first_seen TIMESTAMPTZ NOT NULL,
        last_seen TIMESTAMPTZ NOT NULL,
        runs BIGINT NOT NULL,
        notified_at TIMESTAMPTZ
    )
    """,
]

# The shutdown audit log: every decision of `finops shutdown apply` (and each plan), who ran it, and why.
_V4 = [
    """
    CREATE TABLE shutdown_log (
        decided_at TIMESTAMPTZ NOT NULL,
        run_id VARCHAR NOT NULL,
        actor VARCHAR NOT NULL,
        instance VARCHAR NOT NULL,
        provider VARCHAR,
        action VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        per_hour DECIMAL(38, 15),
        evidence JSON
    )
    """,
]

# dcgm-exporter's default busy signal (DCGM_FI_PROF_GR_ENGINE_ACTIVE) and the MIG profile that says an instance's
# share of its GPU.
_V5 = [
    "ALTER TABLE gpu_samples ADD COLUMN gr_engine_active_pct DOUBLE",
    "ALTER TABLE gpu_samples ADD COLUMN mig_profile VARCHAR",
]

# FOCUS 1.3 and 1.4: their new Cost and Usage columns (appended, in schema.COSTS order), and the Contract Commitment
# dataset in a table of its own.
_V6 = [
    *(
        f'ALTER TABLE costs ADD COLUMN IF NOT EXISTS "{name}" {type_}'
        for name, type_ in FOCUS_1_3_COLUMNS + FOCUS_1_4_COLUMNS
    ),
    create_table_sql(CONTRACT_COMMITMENTS, version=6),
]

# Alert delivery per (finding, sink): a sink that took a finding is never sent it again (until renotify_hours), and
# one that failed gets what it missed on the next run. Findings a version-6 store had marked notified were sent to
# every sink configured then: they carry over under the sink name "*", which stands for all of them.
_V7 = [
    """
    CREATE TABLE IF NOT EXISTS alert_deliveries (
        fingerprint VARCHAR NOT NULL,
        sink VARCHAR NOT NULL,
        delivered_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (fingerprint, sink)
    )
    """,
    """INSERT OR IGNORE INTO alert_deliveries
       SELECT fingerprint, '*', notified_at FROM findings WHERE notified_at IS NOT NULL""",
]

MIGRATIONS: dict[int, list[str]] = {1: _V1, 2: _V2, 3: _V3, 4: _V4, 5: _V5, 6: _V6, 7: _V7}
SCHEMA_VERSION = max(MIGRATIONS)
