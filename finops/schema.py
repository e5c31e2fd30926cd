"""The canonical tables: one definition that the store, the connectors and the tests all read.

`costs` holds every FOCUS Cost and Usage column from 1.0 to 1.4, typed as the spec says (money as DECIMAL, never
float; timestamps as UTC TIMESTAMPTZ; identifiers as VARCHAR; JSON as the text the file wrote) plus `x_` extras.
`contract_commitments` holds the FOCUS 1.3/1.4 Contract Commitment dataset. Every other canonical table is described
the same way, so a migration, a connector's frame and a test fixture cannot drift apart.

What each FOCUS version changed in Cost and Usage (the spec's columns/*.md "Introduced"/"Deprecated" sections in
FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec, and the FOCUS 1.4 Data Model as focus-data-toolkit 0.14.1 extracts it):

- 1.1 adds CapacityReservationId/Status, CommitmentDiscountQuantity/Unit, ServiceSubcategory, SkuMeter,
  SkuPriceDetails. 1.2 adds BillingAccountType, SubAccountType, InvoiceId and the PricingCurrency* columns.
- 1.3 adds ServiceProviderName ("introduced as a replacement for ProviderName"), HostProviderName (the entity whose
  infrastructure hosts the service: a different thing from the publisher), ContractApplied (JSON: the Contract
  Commitments a charge applied to) and the split-cost-allocation columns AllocatedMethodId, AllocatedMethodDetails
  (JSON), AllocatedResourceId, AllocatedResourceName, AllocatedTags (JSON). ProviderName and PublisherName are
  deprecated (still present). 1.3 also adds the Contract Commitment dataset (13 columns).
- 1.4 removes ProviderName and PublisherName, adds InvoiceDetailId and CommitmentProgramEligibilityDetails (JSON),
  17 columns to Contract Commitment (30 in all), and the Billing Period and Invoice Detail datasets (not stored).
"""

from __future__ import annotations

from dataclasses import dataclass

# Providers bill in fractions far below a cent (15 significant decimals seen in real exports): 15 places
# keep every such value exact and still leave 23 integer digits for sums.
MONEY = "DECIMAL(38, 15)"
QUANTITY = "DECIMAL(38, 15)"
TIMESTAMP = "TIMESTAMPTZ"
TEXT = "VARCHAR"
TAGS = "MAP(VARCHAR, VARCHAR)"
JSON = "JSON"


@dataclass(frozen=True)
class Table:
    """A canonical table: its columns in order, and the columns a load replaces a slice by."""

    name: str
    columns: tuple[tuple[str, str], ...]
    slice_by: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def type_of(self, column: str) -> str:
        return dict(self.columns)[column]


# FOCUS 1.0-1.2 Cost and Usage (the columns of version 1 of the store).
FOCUS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("AvailabilityZone", TEXT),
    ("BilledCost", MONEY),
    ("BillingAccountId", TEXT),
    ("BillingAccountName", TEXT),
    ("BillingAccountType", TEXT),
    ("BillingCurrency", TEXT),
    ("BillingPeriodEnd", TIMESTAMP),
    ("BillingPeriodStart", TIMESTAMP),
    ("CapacityReservationId", TEXT),
    ("CapacityReservationStatus", TEXT),
    ("ChargeCategory", TEXT),
    ("ChargeClass", TEXT),
    ("ChargeDescription", TEXT),
    ("ChargeFrequency", TEXT),
    ("ChargePeriodEnd", TIMESTAMP),
    ("ChargePeriodStart", TIMESTAMP),
    ("CommitmentDiscountCategory", TEXT),
    ("CommitmentDiscountId", TEXT),
    ("CommitmentDiscountName", TEXT),
    ("CommitmentDiscountQuantity", QUANTITY),
    ("CommitmentDiscountStatus", TEXT),
    ("CommitmentDiscountType", TEXT),
    ("CommitmentDiscountUnit", TEXT),
    ("ConsumedQuantity", QUANTITY),
    ("ConsumedUnit", TEXT),
    ("ContractedCost", MONEY),
    ("ContractedUnitPrice", MONEY),
    ("EffectiveCost", MONEY),
    ("InvoiceId", TEXT),
    ("InvoiceIssuerName", TEXT),
    ("ListCost", MONEY),
    ("ListUnitPrice", MONEY),
    ("PricingCategory", TEXT),
    ("PricingCurrency", TEXT),
    ("PricingCurrencyContractedUnitPrice", MONEY),
    ("PricingCurrencyEffectiveCost", MONEY),
    ("PricingCurrencyListUnitPrice", MONEY),
    ("PricingQuantity", QUANTITY),
    ("PricingUnit", TEXT),
    ("ProviderName", TEXT),
    ("PublisherName", TEXT),
    ("RegionId", TEXT),
    ("RegionName", TEXT),
    ("ResourceId", TEXT),
    ("ResourceName", TEXT),
    ("ResourceType", TEXT),
    ("ServiceCategory", TEXT),
    ("ServiceName", TEXT),
    ("ServiceSubcategory", TEXT),
    ("SkuId", TEXT),
    ("SkuMeter", TEXT),
    ("SkuPriceDetails", JSON),
    ("SkuPriceId", TEXT),
    ("SubAccountId", TEXT),
    ("SubAccountName", TEXT),
    ("SubAccountType", TEXT),
    ("Tags", TAGS),
)

# Extras every cost row carries. x_Extras keeps the source's own non-FOCUS columns (JSON object), so
# nothing a provider sent is thrown away; x_InstanceType is derived at ingest for GPU pricing.
COST_EXTRAS: tuple[tuple[str, str], ...] = (
    ("x_Source", TEXT),
    ("x_LoadId", TEXT),
    ("x_FocusVersion", TEXT),
    ("x_InstanceType", TEXT),
    ("x_Extras", JSON),
)

# Control totals a connector may attach to its rows: the source's own amount for each row, read from the source's
# own column (CUR's unblended cost, Azure's cost in billing currency, GCP's cost plus credits), independently of
# the mapping to FOCUS. They never reach the table: the store sums them per slice and refuses a load whose stored
# total differs (finops.store.Store.replace_slices).
CONTROL_COLUMNS = {"_control_billed": "BilledCost", "_control_effective": "EffectiveCost"}

# Added to Cost and Usage by FOCUS 1.3 and 1.4 (schema version 6; a migration appends them after the extras).
FOCUS_1_3_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ServiceProviderName", TEXT),
    ("HostProviderName", TEXT),
    ("ContractApplied", JSON),
    ("AllocatedMethodId", TEXT),
    ("AllocatedMethodDetails", JSON),
    ("AllocatedResourceId", TEXT),
    ("AllocatedResourceName", TEXT),
    ("AllocatedTags", JSON),
)
FOCUS_1_4_COLUMNS: tuple[tuple[str, str], ...] = (
    ("InvoiceDetailId", TEXT),
    ("CommitmentProgramEligibilityDetails", JSON),
)
# Every Cost and Usage column any FOCUS version defines.
ALL_FOCUS_COLUMNS = FOCUS_COLUMNS + FOCUS_1_3_COLUMNS + FOCUS_1_4_COLUMNS

COSTS = Table(
    "costs",
    FOCUS_COLUMNS + COST_EXTRAS + FOCUS_1_3_COLUMNS + FOCUS_1_4_COLUMNS,
    slice_by=("x_Source", "BillingPeriodStart"),
)

# FOCUS 1.3 Contract Commitment (its 13 columns first), then what 1.4 added. One row per commitment of a contract:
# a load replaces a source's commitments contract by contract (commitments are not billed per period).
CONTRACT_COMMITMENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ContractCommitmentId", TEXT),
    ("ContractCommitmentType", TEXT),
    ("ContractCommitmentCategory", TEXT),
    ("ContractCommitmentCost", MONEY),
    ("ContractCommitmentQuantity", QUANTITY),
    ("ContractCommitmentUnit", TEXT),
    ("ContractCommitmentDescription", TEXT),
    ("ContractCommitmentPeriodStart", TIMESTAMP),
    ("ContractCommitmentPeriodEnd", TIMESTAMP),
    ("ContractId", TEXT),
    ("ContractPeriodStart", TIMESTAMP),
    ("ContractPeriodEnd", TIMESTAMP),
    ("BillingCurrency", TEXT),
    # FOCUS 1.4
    ("ContractCommitmentApplicability", JSON),
    ("ContractCommitmentBenefitCategory", TEXT),
    ("ContractCommitmentCreated", TIMESTAMP),
    ("ContractCommitmentDiscountPercentage", QUANTITY),
    ("ContractCommitmentDurationType", TEXT),
    ("ContractCommitmentFulfillmentInterval", TEXT),
    ("ContractCommitmentLastUpdated", TIMESTAMP),
    ("ContractCommitmentLifecycleStatus", TEXT),
    ("ContractCommitmentModel", TEXT),
    ("ContractCommitmentOfferCategory", TEXT),
    ("ContractCommitmentPaymentInterval", TEXT),
    ("ContractCommitmentPaymentModel", TEXT),
    ("ContractCommitmentPaymentUpfrontPercentage", QUANTITY),
    ("InvoiceIssuerName", TEXT),
    ("PricingCurrency", TEXT),
    ("PricingCurrencyContractCommitmentCost", MONEY),
    ("ServiceProviderName", TEXT),
)
CONTRACT_COMMITMENTS = Table(
    "contract_commitments",
    (
        *CONTRACT_COMMITMENT_COLUMNS,
        ("x_Source", TEXT),
        ("x_LoadId", TEXT),
        ("x_FocusVersion", TEXT),
        ("x_Extras", JSON),
    ),
    slice_by=("x_Source", "ContractId"),
)

# One row per GPU (or MIG instance) per sample. A metric the GPU refused is NULL, never 0.
GPU_SAMPLES = Table(
    "gpu_samples",
    (
        ("ts", TIMESTAMP),
        ("host", TEXT),
        ("instance_id", TEXT),
        ("provider", TEXT),
        ("instance_type", TEXT),
        ("gpu_uuid", TEXT),
        ("gpu_index", "INTEGER"),
        ("mig_instance_id", TEXT),
        ("gpu_model", TEXT),
        ("interval_s", "DOUBLE"),
        ("util_gpu_pct", "DOUBLE"),
        ("util_mem_pct", "DOUBLE"),
        ("sm_active_pct", "DOUBLE"),
        ("sm_occupancy_pct", "DOUBLE"),
        ("tensor_active_pct", "DOUBLE"),
        ("dram_active_pct", "DOUBLE"),
        ("mem_used_bytes", "BIGINT"),
        ("mem_total_bytes", "BIGINT"),
        ("power_w", "DOUBLE"),
        ("energy_j", "DOUBLE"),
        ("sm_clock_mhz", "DOUBLE"),
        ("mem_clock_mhz", "DOUBLE"),
        ("process_count", "INTEGER"),
        ("labels", TAGS),
        ("x_Source", TEXT),
        ("x_LoadId", TEXT),
        ("x_Day", "DATE"),
        # schema version 5: dcgm-exporter's default activity counter, and a MIG instance's profile (its slices)
        ("gr_engine_active_pct", "DOUBLE"),
        ("mig_profile", TEXT),
    ),
    slice_by=("x_Source", "x_Day"),
)

GPU_PROCESSES = Table(
    "gpu_processes",
    (
        ("ts", TIMESTAMP),
        ("host", TEXT),
        ("gpu_uuid", TEXT),
        ("pid", "BIGINT"),
        ("process_name", TEXT),
        ("user_name", TEXT),
        ("container", TEXT),
        ("pod", TEXT),
        ("namespace", TEXT),
        ("cgroup", TEXT),
        ("used_mem_bytes", "BIGINT"),
        ("sm_util_pct", "DOUBLE"),
        ("x_Source", TEXT),
        ("x_LoadId", TEXT),
        ("x_Day", "DATE"),
    ),
    slice_by=("x_Source", "x_Day"),
)

# Inference counters per endpoint and window: counts are deltas over [ts, ts + interval_s).
# Latency histograms keep their bucket bounds so p95 can be computed over any window.
USAGE_METRICS = Table(
    "usage_metrics",
    (
        ("ts", TIMESTAMP),
        ("interval_s", "DOUBLE"),
        ("endpoint", TEXT),
        ("model", TEXT),
        ("provider", TEXT),
        ("resource_id", TEXT),
        ("requests", "BIGINT"),
        ("requests_failed", "BIGINT"),
        ("input_tokens", "BIGINT"),
        ("output_tokens", "BIGINT"),
        ("latency_le_s", "DOUBLE[]"),
        ("latency_counts", "BIGINT[]"),
        ("latency_sum_s", "DOUBLE"),
        ("labels", TAGS),
        ("x_Source", TEXT),
        ("x_LoadId", TEXT),
        ("x_Day", "DATE"),
        ("latency_p95_s", "DOUBLE"),  # schema version 2: statistics where no histogram exists (CloudWatch)
        ("latency_mean_s", "DOUBLE"),
    ),
    slice_by=("x_Source", "x_Day"),
)

PRICES = Table(
    "prices",
    (
        ("provider", TEXT),
        ("instance_type", TEXT),
        ("region", TEXT),
        ("gpu_model", TEXT),
        ("gpu_count", "INTEGER"),
        ("price_per_hour", MONEY),
        ("currency", TEXT),
        ("pricing_model", TEXT),
        ("effective_date", "DATE"),
        ("x_Source", TEXT),
        ("x_LoadId", TEXT),
    ),
    slice_by=("x_Source",),
)

CANONICAL_TABLES: dict[str, Table] = {
    table.name: table for table in (COSTS, GPU_SAMPLES, GPU_PROCESSES, USAGE_METRICS, PRICES, CONTRACT_COMMITMENTS)
}
# Tables created by a later migration (name -> schema version), not by version 1.
TABLES_ADDED_LATER: dict[str, int] = {"contract_commitments": 6}


# Columns added by later migrations, by table: the version-1 DDL must stay what shipped.
ADDED_LATER: dict[str, tuple[str, ...]] = {
    "usage_metrics": ("latency_p95_s", "latency_mean_s"),
    "gpu_samples": ("gr_engine_active_pct", "mig_profile"),
    "costs": tuple(name for name, _ in FOCUS_1_3_COLUMNS + FOCUS_1_4_COLUMNS),  # schema version 6
}


def create_table_sql(table: Table, version: int) -> str:
    """DDL for a canonical table: at `version` 1 as it shipped (later columns come by migration), else whole (a
    table a later migration creates); names are constants from this module, never user input."""
    later = ADDED_LATER.get(table.name, ()) if version == 1 else ()
    columns = ",\n    ".join(f'"{name}" {type_}' for name, type_ in table.columns if name not in later)
    return f'CREATE TABLE IF NOT EXISTS "{table.name}" (\n    {columns}\n)'
