"""AWS Cost and Usage Reports (legacy CUR 1.0 and CUR 2.0; CSV, gzip CSV or parquet) as FOCUS 1.2 `costs` rows.

The mapping follows AWS's own definitions wherever AWS publishes one:
- amortised cost per line item type: AWS's Cloud Intelligence Dashboards `summary_view` (CUR 2.0 version,
  aws-samples/aws-cudos-framework-deployment cid/builtin/core/data/queries/cid/summary_view_curv2.sql), the
  query AWS ships to turn CUR into "amortized cost";
- ChargeCategory per line item type: the FOCUS working group's provider mappings (FOCUS_Spec
  supporting_content/columns/chargecategory.md: Fee/RIFee/SavingsPlan*Fee -> Purchase, SavingsPlanNegation and
  BundledDiscount -> Usage, Refund -> Adjustment) and the FOCUS 1.2 allowed values;
- column names: the CUR 2.0 table dictionary and its legacy equivalents as AWS's CUR 1 -> 2 proxy maps them
  (cloud-intelligence-dashboards-framework cid/helpers/cur_proxy.py: `resource_tags_user_x` is
  `resource_tags['user_x']`, `product_product_name` is `product['product_name']`, `product_instance_type` stays
  a column of its own);
- BilledCost is the unblended cost on every row (the invoice's own sum). AWS's own FOCUS export writes 0 on
  Savings Plan covered usage and has no negation rows; a CUR has both, and real CUR 2.0 files hold negations that
  do not exactly offset their covered lines, so zeroing both would lose the difference.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from finops.coerce import ROW, TAG_ENTRY, as_text, coerce
from finops.connectors.focus_files import (
    BATCH_ROWS,
    normalise_focus_frame,
    numbered_batches,
    read_errors,
    read_header,
)
from finops.errors import InputError
from finops.schema import MONEY, Table

DECIMAL = pl.Decimal(38, 15)
# Logical field -> (CUR 2.0 name, legacy CUR CSV name). Legacy CUR written as parquet for Athena uses the
# CUR 2.0 spelling for every flat column, so "2.0" also covers it.
COLUMNS: dict[str, tuple[str, str]] = {
    "line_item_type": ("line_item_line_item_type", "lineItem/LineItemType"),
    "unblended_cost": ("line_item_unblended_cost", "lineItem/UnblendedCost"),
    "usage_start": ("line_item_usage_start_date", "lineItem/UsageStartDate"),
    "usage_end": ("line_item_usage_end_date", "lineItem/UsageEndDate"),
    "period_start": ("bill_billing_period_start_date", "bill/BillingPeriodStartDate"),
    "period_end": ("bill_billing_period_end_date", "bill/BillingPeriodEndDate"),
    "payer": ("bill_payer_account_id", "bill/PayerAccountId"),
    "payer_name": ("bill_payer_account_name", "bill/PayerAccountName"),
    "usage_account": ("line_item_usage_account_id", "lineItem/UsageAccountId"),
    "usage_account_name": ("line_item_usage_account_name", "lineItem/UsageAccountName"),
    "billing_entity": ("bill_billing_entity", "bill/BillingEntity"),
    "invoicing_entity": ("bill_invoicing_entity", "bill/InvoicingEntity"),
    "invoice_id": ("bill_invoice_id", "bill/InvoiceId"),
    "bill_type": ("bill_bill_type", "bill/BillType"),
    "legal_entity": ("line_item_legal_entity", "lineItem/LegalEntity"),
    "product_code": ("line_item_product_code", "lineItem/ProductCode"),
    "usage_type": ("line_item_usage_type", "lineItem/UsageType"),
    "operation": ("line_item_operation", "lineItem/Operation"),
    "availability_zone": ("line_item_availability_zone", "lineItem/AvailabilityZone"),
    "resource_id": ("line_item_resource_id", "lineItem/ResourceId"),
    "usage_amount": ("line_item_usage_amount", "lineItem/UsageAmount"),
    "currency": ("line_item_currency_code", "lineItem/CurrencyCode"),
    "description": ("line_item_line_item_description", "lineItem/LineItemDescription"),
    "product_name": ("product_product_name", "product/ProductName"),
    "region_code": ("product_region_code", "product/regionCode"),
    "region": ("product_region", "product/region"),
    "location": ("product_location", "product/location"),
    "instance_type": ("product_instance_type", "product/instanceType"),
    "sku": ("product_sku", "product/sku"),
    "rate_code": ("pricing_rate_code", "pricing/RateCode"),
    "pricing_currency": ("pricing_currency", "pricing/currency"),
    "pricing_term": ("pricing_term", "pricing/term"),
    "pricing_unit": ("pricing_unit", "pricing/unit"),
    "public_cost": ("pricing_public_on_demand_cost", "pricing/publicOnDemandCost"),
    "public_rate": ("pricing_public_on_demand_rate", "pricing/publicOnDemandRate"),
    "ri_arn": ("reservation_reservation_a_r_n", "reservation/ReservationARN"),
    "ri_effective": ("reservation_effective_cost", "reservation/EffectiveCost"),
    "ri_unused_upfront": (
        "reservation_unused_amortized_upfront_fee_for_billing_period",
        "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
    ),
    "ri_unused_recurring": ("reservation_unused_recurring_fee", "reservation/UnusedRecurringFee"),
    "sp_arn": ("savings_plan_savings_plan_a_r_n", "savingsPlan/SavingsPlanARN"),
    "sp_effective": ("savings_plan_savings_plan_effective_cost", "savingsPlan/SavingsPlanEffectiveCost"),
    "sp_total_commitment": ("savings_plan_total_commitment_to_date", "savingsPlan/TotalCommitmentToDate"),
    "sp_used_commitment": ("savings_plan_used_commitment", "savingsPlan/UsedCommitment"),
    "capacity_reservation": (
        "capacity_reservation_capacity_reservation_arn",
        "capacityReservation/CapacityReservationArn",
    ),
}
NUMERIC = (
    "unblended_cost",
    "usage_amount",
    "public_cost",
    "public_rate",
    "ri_effective",
    "ri_unused_upfront",
    "ri_unused_recurring",
    "sp_effective",
    "sp_total_commitment",
    "sp_used_commitment",
)
REQUIRED = ("line_item_type", "unblended_cost", "usage_start", "usage_end", "period_start", "period_end", "payer")
# CUR 2.0 nests product attributes in a `product` map: key for each field that is not a column of its own.
PRODUCT_KEYS = {"product_name": "product_name", "region": "region", "instance_type": "instance_type"}

USED = ("SavingsPlanCoveredUsage", "DiscountedUsage", "SavingsPlanNegation")
RECURRING_FEES = ("RIFee", "SavingsPlanRecurringFee")
# FOCUS_Spec supporting_content/columns/chargecategory.md (AWS rows) and the FOCUS 1.2 definitions: usage and
# its negations are Usage, fees for commitments and other purchases are Purchase, Refund is Adjustment.
CHARGE_CATEGORY = {
    "Usage": "Usage",
    "DiscountedUsage": "Usage",
    "SavingsPlanCoveredUsage": "Usage",
    "SavingsPlanNegation": "Usage",
    "BundledDiscount": "Usage",
    "RiVolumeDiscount": "Purchase",  # a discount on RI fees, so it belongs with what it discounts
    "Fee": "Purchase",
    "RIFee": "Purchase",
    "SavingsPlanUpfrontFee": "Purchase",
    "SavingsPlanRecurringFee": "Purchase",
    "Tax": "Tax",
    "Credit": "Credit",
    "Refund": "Adjustment",
}


def cur_version(header: list[str]) -> str | None:
    """The CUR version a header belongs to: "1.0" for legacy CUR CSV (`lineItem/UnblendedCost`), "2.0" for CUR 2.0
    (`line_item_unblended_cost`, also how legacy CUR written as parquet spells it), None for anything else."""
    names = {name.strip().lstrip("\ufeff") for name in header}
    if COLUMNS["unblended_cost"][1] in names:
        return "1.0"
    if COLUMNS["unblended_cost"][0] in names:
        return "2.0"
    return None


def check_cur_header(path: Path) -> str:
    """The file's CUR version, once its header is known to hold the columns the mapping cannot do without."""
    header = read_errors(path, lambda: read_header(path))
    version = cur_version(header)
    if version is None:
        raise InputError(
            f"{path}: not an AWS Cost and Usage Report: no lineItem/UnblendedCost or line_item_unblended_cost column",
            hint="give a CUR 1.0 or CUR 2.0 export (.csv, .csv.gz or .parquet)",
        )
    index = 1 if version == "1.0" else 0
    missing = [COLUMNS[f][index] for f in REQUIRED if COLUMNS[f][index] not in header]
    if missing:
        raise InputError(f"{path}: not a complete CUR {version} file: missing column(s) {', '.join(missing)}")
    return version


def read_cur_batches(path: Path, *, source: str | None = None, batch_rows: int = BATCH_ROWS) -> Iterator[pl.DataFrame]:
    """A CUR file as frames of `costs` rows, like `read_focus_batches` (rows counted from 1 after the header).

    The default source is the FOCUS reader's, `focus:AWS:<payer account>`: a CUR and AWS's own FOCUS export of
    the same bill then replace each other's slices instead of being counted twice.
    """
    version = check_cur_header(path)
    for raw in numbered_batches(path, batch_rows):
        focus = cur_to_focus(raw, version=version, file=str(path))
        yield normalise_focus_frame(focus, path, source, f"cur-{version}")


def cur_to_focus(raw: pl.DataFrame, *, version: str, file: str = "CUR") -> pl.DataFrame:
    """Raw CUR columns (text from CSV, typed from parquet, plus `_row`) as FOCUS 1.2 columns, `_row` and a few
    `x_` extras, ready for `normalise_focus_frame`. A bad number raises InputError naming the CUR column."""
    if version not in ("1.0", "2.0"):
        raise ValueError(f"unknown CUR version {version!r}")
    index = 1 if version == "1.0" else 0
    names = {field: COLUMNS[field][index] for field in COLUMNS}
    # Money and quantities are cast here, so a bad cell is reported under the CUR's own column name.
    numeric = [names[f] for f in NUMERIC if names[f] in raw.columns]
    money = Table("cur", tuple((name, MONEY) for name in numeric), slice_by=())
    typed = coerce(raw.select([ROW, *numeric]), money, file=file)
    # Every value the cost rules read becomes a plain column, so the rules below are ordinary expressions.
    frame = raw.select(
        ROW,
        *(_text(raw, names[f]).alias(f) for f in COLUMNS if f not in NUMERIC and f not in PRODUCT_KEYS),
        *(_product(raw, f, names[f]).alias(f) for f in PRODUCT_KEYS),
        _text(raw, names["unblended_cost"]).alias("unblended_text"),
        _tags(raw).alias("tags"),
    ).with_columns(
        (typed.get_column(names[f]) if names[f] in numeric else pl.lit(None, DECIMAL)).alias(f) for f in NUMERIC
    )
    _check_inputs(frame, names, file)
    return frame.select(ROW, *_focus_columns(), *_extras())


def _text(raw: pl.DataFrame, name: str) -> pl.Expr:
    """A column as text, empty strings as NULL (CUR parquet writes "" where CSV has nothing), or NULL if absent.
    Floats print as their shortest repr, maps and structs as JSON objects, lists as JSON arrays."""
    if name not in raw.columns:
        return pl.lit(None, pl.String)
    column = pl.col(name).cast(pl.String) if not raw.schema[name].is_nested() else pl.lit(as_text(raw[name]))
    return pl.when(column != "").then(column)


def _product(raw: pl.DataFrame, field: str, name: str) -> pl.Expr:
    """A product attribute from its own column (legacy CUR, and CUR 2.0's `product_instance_type`), else from
    CUR 2.0's `product` map."""
    if name in raw.columns or "product" not in raw.columns:
        return _text(raw, name)
    return _map_value(raw, "product", PRODUCT_KEYS[field])


def _map_value(raw: pl.DataFrame, name: str, key: str) -> pl.Expr:
    """One key of a CUR 2.0 map column: a parquet MAP, or JSON object text in CSV exports."""
    dtype = raw.schema[name]
    if dtype == pl.String:
        return pl.col(name).str.json_path_match(f"$.{key}")
    entries = pl.col(name).cast(pl.List(TAG_ENTRY))
    match = pl.element().filter(pl.element().struct.field("key") == key).struct.field("value")
    return entries.list.eval(match).list.first()


def _tags(raw: pl.DataFrame) -> pl.Expr:
    """One JSON object from legacy `resourceTags/user:team` columns, flat `resource_tags_user_team` columns, or
    CUR 2.0's `resource_tags` map. CUR 2.0 keys carry the legacy prefix with `_` for `:` (`user_team`,
    `aws_createdBy`: cur_proxy.py maps one to the other), so `user_` is dropped and `aws_` becomes `aws:`, and
    every form of a key meets `normalize_key` spelt as the legacy CUR spells it."""
    texts: list[pl.Expr] = []
    flat = [
        pl.struct(key=pl.lit(_flat_tag_key(name)), value=pl.col(name).cast(pl.String))
        for name in raw.columns
        if name.startswith(("resourceTags/", "resource_tags_"))
    ]
    if flat:
        present = pl.element().filter(pl.element().struct.field("value").is_not_null())
        texts.append(_entries_json(pl.concat_list(flat).list.eval(present)))
    if "resource_tags" in raw.columns and raw.schema["resource_tags"] == pl.String:
        texts.append(_json_tags(raw.get_column("resource_tags")))  # CSV exports write the map as JSON text
    elif "resource_tags" in raw.columns:
        key = pl.element().struct.field("key").str.replace(r"^user_", "").str.replace(r"^aws_", "aws:")
        entries = pl.col("resource_tags").cast(pl.List(TAG_ENTRY))
        texts.append(_entries_json(entries.list.eval(pl.struct(key=key, value=pl.element().struct.field("value")))))
    if len(texts) < 2:
        return texts[0] if texts else pl.lit(None, pl.String)
    # Both forms in one file (not seen in AWS's exports, but nothing is dropped): one object from both bodies.
    bodies = [t.str.strip_prefix("{").str.strip_suffix("}").str.strip_chars() for t in texts]
    joined = pl.concat_str([pl.when(b != "").then(b) for b in bodies], separator=",", ignore_nulls=True)
    return pl.concat_str(pl.lit("{"), joined.fill_null(""), pl.lit("}"))


def _entries_json(entries: pl.Expr) -> pl.Expr:
    """A list of {key, value} structs as JSON object text: each entry encoded by polars (so quotes and
    backslashes are escaped), then `{"key":"k","value":"v"}` rewritten to `"k":"v"`, as finops.coerce does."""
    pair = pl.element().struct.json_encode().str.replace(r'^\{"key":(".*?"),"value":(.*)\}$', "$1:$2")
    return pl.concat_str(pl.lit("{"), entries.list.eval(pair).list.join(","), pl.lit("}"))


def _flat_tag_key(name: str) -> str:
    """`resourceTags/user:team` -> `user:team`; `resource_tags_user_team` (legacy CUR as parquet) -> `team`."""
    if name.startswith("resource_tags_"):
        return _cur2_key(name[len("resource_tags_") :])
    return name[len("resourceTags/") :]


def _cur2_key(key: str) -> str:
    if key.startswith("user_"):
        return key[len("user_") :]
    if key.startswith("aws_"):
        return "aws:" + key[len("aws_") :]
    return key


def _json_tags(column: pl.Series) -> pl.Expr:
    def rename(text: str) -> str:
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return text  # left as written: the Tags check in finops.coerce names the file, row and value
        if not isinstance(parsed, dict):
            return text
        return json.dumps({_cur2_key(str(k)): v for k, v in parsed.items()}, ensure_ascii=False)

    distinct = column.unique().drop_nulls().to_list()
    renamed = [rename(text) for text in distinct]
    return pl.lit(column.replace_strict(distinct, renamed, default=None, return_dtype=pl.String))


def _check_inputs(frame: pl.DataFrame, names: dict[str, str], file: str) -> None:
    """Refuse rows the cost rules cannot price, naming the CUR column rather than a derived FOCUS one."""
    kind = pl.col("line_item_type")
    needs = [
        (pl.lit(True), "line_item_type"),
        (pl.lit(True), "unblended_cost"),
        (kind == "SavingsPlanCoveredUsage", "sp_effective"),
        (kind == "DiscountedUsage", "ri_effective"),
        (kind == "SavingsPlanRecurringFee", "sp_total_commitment"),
        (kind == "SavingsPlanRecurringFee", "sp_used_commitment"),
        (kind == "RIFee", "ri_unused_upfront"),
        (kind == "RIFee", "ri_unused_recurring"),
    ]
    for applies, field in needs:
        bad = frame.filter(applies.fill_null(False) & pl.col(field).is_null())
        if bad.height:
            row = bad.get_column(ROW)[0]
            what = f"a {bad.get_column('line_item_type')[0]} line item" if field != "line_item_type" else "a line item"
            raise InputError(
                f"{file}: row {row}, column {names[field]}: empty, but {what} needs it",
                hint="export the CUR again with all columns; nothing was loaded",
            )


def _focus_columns() -> list[pl.Expr]:
    kind = pl.col("line_item_type")
    zero = pl.lit(0, DECIMAL)
    category = (
        kind.replace_strict(CHARGE_CATEGORY, default=None, return_dtype=pl.String)
        # A type AWS adds later: its discounts and negations still offset usage; anything else is an Adjustment
        # ("charges ... that do not fall into other category values", FOCUS 1.2 ChargeCategory).
        .fill_null(pl.when(kind.str.ends_with("Discount") | kind.str.ends_with("Negation")).then(pl.lit("Usage")))
        .fill_null(pl.lit("Adjustment"))
    )
    is_usage = category == "Usage"
    commitment = pl.coalesce("sp_arn", "ri_arn")
    spot = (pl.col("pricing_term") == "Spot") | pl.col("usage_type").str.contains("SpotUsage")
    return [
        # BilledCost is the unblended cost, row by row, as the invoice adds it up: covered usage and its negation
        # both keep theirs, so the total is the unblended total even where a negation does not exactly offset
        # its covered line (seen in real CUR 2.0 files). Amortisation lives only in EffectiveCost.
        pl.col("unblended_cost").alias("BilledCost"),
        # Amortised cost, as AWS's CID summary_view computes it: commitment usage at its effective cost, the
        # unused part of recurring commitments on the fee row, upfront payments 0 (they are amortised into the
        # effective costs above), everything else unblended.
        pl.when(kind == "SavingsPlanCoveredUsage")
        .then(pl.col("sp_effective"))
        .when(kind == "DiscountedUsage")
        .then(pl.col("ri_effective"))
        .when(kind == "SavingsPlanRecurringFee")
        .then(pl.col("sp_total_commitment") - pl.col("sp_used_commitment"))
        .when(kind == "RIFee")
        .then(pl.col("ri_unused_upfront") + pl.col("ri_unused_recurring"))
        .when((kind == "SavingsPlanNegation") | (kind == "SavingsPlanUpfrontFee"))
        .then(zero)
        .when((kind == "Fee") & pl.col("ri_arn").is_not_null())
        .then(zero)
        .otherwise(pl.col("unblended_cost"))
        .alias("EffectiveCost"),
        category.alias("ChargeCategory"),
        pl.when(is_usage)
        .then(pl.lit("Usage-Based"))
        .when(kind.is_in(RECURRING_FEES))
        .then(pl.lit("Recurring"))
        .otherwise(pl.lit("One-Time"))
        .alias("ChargeFrequency"),
        # FOCUS 1.2: required for Usage and Purchase, NULL for Tax; credits and adjustments have no pricing model.
        pl.when(~category.is_in(("Usage", "Purchase")))
        .then(pl.lit(None, pl.String))
        .when(kind.is_in(USED))
        .then(pl.lit("Committed"))
        .when(spot.fill_null(False))
        .then(pl.lit("Dynamic"))
        .otherwise(pl.lit("Standard"))
        .alias("PricingCategory"),
        commitment.alias("CommitmentDiscountId"),
        pl.when(pl.col("sp_arn").is_not_null())
        .then(pl.lit("Savings Plan"))
        .when(pl.col("ri_arn").is_not_null())
        .then(pl.lit("Reserved Instance"))
        .alias("CommitmentDiscountType"),
        pl.when(pl.col("sp_arn").is_not_null())
        .then(pl.lit("Spend"))
        .when(pl.col("ri_arn").is_not_null())
        .then(pl.lit("Usage"))
        .alias("CommitmentDiscountCategory"),
        # The fee rows' EffectiveCost is exactly the unused commitment, so they carry Unused.
        pl.when(commitment.is_null())
        .then(pl.lit(None, pl.String))
        .when(kind.is_in(USED))
        .then(pl.lit("Used"))
        .when(kind.is_in(RECURRING_FEES))
        .then(pl.lit("Unused"))
        .alias("CommitmentDiscountStatus"),
        pl.lit("AWS").alias("ProviderName"),
        # Marketplace charges: bill_billing_entity is "AWS Marketplace" and lineItem/LegalEntity is the seller of
        # record (CUR data dictionary), which FOCUS calls the publisher.
        pl.when(pl.col("billing_entity") == "AWS Marketplace")
        .then(pl.coalesce("legal_entity", pl.lit("AWS Marketplace")))
        .otherwise(pl.lit("AWS"))
        .alias("PublisherName"),
        pl.coalesce("invoicing_entity", pl.lit("AWS")).alias("InvoiceIssuerName"),
        pl.col("invoice_id").alias("InvoiceId"),
        pl.col("payer").alias("BillingAccountId"),
        pl.col("payer_name").alias("BillingAccountName"),
        pl.col("usage_account").alias("SubAccountId"),
        pl.col("usage_account_name").alias("SubAccountName"),
        pl.col("currency").alias("BillingCurrency"),
        pl.col("pricing_currency").alias("PricingCurrency"),
        pl.col("period_start").alias("BillingPeriodStart"),
        pl.col("period_end").alias("BillingPeriodEnd"),
        pl.col("usage_start").alias("ChargePeriodStart"),
        pl.col("usage_end").alias("ChargePeriodEnd"),
        pl.col("description").alias("ChargeDescription"),
        pl.coalesce("product_name", "product_code").alias("ServiceName"),
        pl.coalesce("region_code", "region").alias("RegionId"),
        pl.col("location").alias("RegionName"),
        pl.col("availability_zone").alias("AvailabilityZone"),
        pl.col("resource_id").alias("ResourceId"),
        pl.col("sku").alias("SkuId"),
        pl.col("rate_code").alias("SkuPriceId"),
        pl.when(pl.col("instance_type").is_not_null())
        .then(pl.struct(pl.col("instance_type").alias("InstanceType")).struct.json_encode())
        .alias("SkuPriceDetails"),
        pl.col("public_rate").alias("ListUnitPrice"),
        pl.col("public_cost").alias("ListCost"),
        pl.col("usage_amount").alias("PricingQuantity"),
        pl.col("pricing_unit").alias("PricingUnit"),
        pl.when(is_usage).then(pl.col("usage_amount")).alias("ConsumedQuantity"),
        pl.when(is_usage).then(pl.col("pricing_unit")).alias("ConsumedUnit"),
        pl.col("capacity_reservation").alias("CapacityReservationId"),
        pl.col("tags").alias("Tags"),
    ]


def _extras() -> list[pl.Expr]:
    """Provider columns worth keeping (they land in x_Extras): the CUR's own unblended figure, so the invoice
    reconciles without trusting the mapping, and the fields AWS cost analyses group by."""
    return [
        pl.col("line_item_type").alias("x_LineItemType"),
        pl.col("bill_type").alias("x_BillType"),
        pl.col("product_code").alias("x_ProductCode"),
        pl.col("usage_type").alias("x_UsageType"),
        pl.col("operation").alias("x_Operation"),
        pl.col("unblended_text").alias("x_UnblendedCost"),
        pl.col("unblended_cost").alias("_control_billed"),  # the store checks each period's total against it
    ]
