"""Azure cost details through `finops ingest`, in every flavour Azure writes: EA (PascalCase), MCA (camelCase, often
with the billing period left empty), the legacy pay-as-you-go usage details (`PreTaxCost`), lower-cased and
localised headers. Each reconciles to its own file, billing period by billing period; other Cost Management
datasets are refused, named as what they are."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from conftest import BILLING

from finops.connectors.azure_cost_details import read_cost_details_batches
from finops.money import CENT

EA = BILLING / "finops-toolkit" / "azure-ea-exports"
OPENCOST = BILLING / "azure-opencost"
MCA = OPENCOST / "values" / "test_azure_billing.csv"
PAYG = OPENCOST / "headersets" / "PayAsYouGo.csv"

# Per file: {billing period: (rows, the file's own cost total)}. Worked out WITHOUT finops: Python's csv module and
# Decimal over the named cost column (Cost / CostInBillingCurrency / costInBillingCurrency / PreTaxCost), the period
# being BillingPeriodStartDate where the file fills it, else the calendar month of Date / date / UsageDateTime.
CORPUS = {
    MCA: {"2024-10-01": (5, "42.676")},  # MCA, billingPeriodStartDate empty on every row
    OPENCOST / "headersets" / "EnterpriseCamel.csv": {"2021-02-01": (1, "0.012")},  # MCA partner (CSP) columns
    PAYG: {"2021-02-01": (1, "0.075")},  # pay-as-you-go usage details 2019-11-01
    OPENCOST / "headersets" / "German.csv": {"2021-02-01": (1, "0.075")},  # the same, German portal headers
    OPENCOST / "headersets" / "YA.csv": {"2021-02-01": (1, "0.075")},  # camelCase and German mixed
    OPENCOST / "headersets" / "Enterprise.csv": {"2021-05-01": (1, "0")},  # EA, CostInBillingCurrency
    OPENCOST / "values" / "VirtualMachine.csv": {"2021-02-01": (1, "4")},  # lower-cased names, few columns
    OPENCOST / "values" / "MissingBrackets.csv": {"2021-02-01": (1, "4")},  # the same, brace-less JSON
    BILLING / "focus-converters" / "azure-ea.csv": {"2023-09-01": (27, "1.26136926505726")},
    EA / "EA_ActualCost_Small.csv": {"2023-09-01": (11, "8.5450077867419368")},
    EA / "EA_AmortizedCost_Small.csv": {"2023-09-01": (28, "16.29693213663664462748541900")},
}


def _file_total(path: Path, column: str) -> Decimal:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return sum((Decimal(row[column]) for row in csv.DictReader(handle) if row[column]), Decimal(0))


def _reconciles(stored: Decimal, source: Decimal) -> bool:
    """To the cent, as the standard asks; and closer still: the store keeps 15 decimal places, Azure writes up to
    28 (0.0000000072922557592391990000), so only digits past the 15th may differ."""
    return stored.quantize(CENT) == source.quantize(CENT) and abs(stored - source) < Decimal("1e-13")


def _sums(db: Path) -> tuple[Decimal, Decimal, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute('SELECT sum("BilledCost"), sum("EffectiveCost"), count(*) FROM costs').fetchone()


def test_actual_cost_is_the_invoice(cli, db: Path) -> None:
    path = EA / "EA_ActualCost_Small.csv"
    assert cli("ingest", path, "--db", db).code == 0
    billed, effective, rows = _sums(db)
    assert rows == 11
    assert _reconciles(billed, _file_total(path, "Cost"))
    assert _file_total(path, "Cost") == Decimal("8.5450077867419368")
    assert effective == billed  # actual data cannot amortise: it says so by being equal
    with duckdb.connect(str(db), read_only=True) as con:
        purchase = con.execute("""SELECT "ChargeCategory", "ChargeFrequency", "PricingCategory",
                                         "CommitmentDiscountType", "BillingPeriodEnd"::DATE
                                  FROM costs WHERE "BilledCost" = 3.25""").fetchone()  # fmt: skip
    assert purchase[:4] == ("Purchase", "Recurring", "Committed", "Reservation")
    assert str(purchase[4]) == "2023-10-01"  # Azure's inclusive 09/30/2023, as an exclusive end


def test_amortized_cost_spreads_commitments(cli, db: Path) -> None:
    path = EA / "EA_AmortizedCost_Small.csv"
    assert cli("ingest", path, "--db", db).code == 0
    billed, effective, rows = _sums(db)
    assert rows == 28 and _reconciles(effective, _file_total(path, "Cost"))
    with duckdb.connect(str(db), read_only=True) as con:
        covered = con.execute(
            """SELECT "CommitmentDiscountStatus", "BilledCost", "EffectiveCost", "x_InstanceType", "ConsumedQuantity",
                      "ConsumedUnit", "SubAccountName", "Tags"['env']
               FROM costs WHERE "PricingCategory" = 'Committed' ORDER BY "EffectiveCost" DESC"""
        ).fetchall()
    reservation = covered[0]
    assert reservation[:3] == ("Used", Decimal(0), Decimal("0.493152"))  # paid by the purchase, not billed itself
    assert reservation[3] == "Standard_DS2_v2" and reservation[4] == 8 and reservation[5] == "Hour"
    assert reservation[6] == "Trey Research Corporate" and reservation[7] == "prod"  # brace-less tags read
    assert billed == effective - sum(c[2] for c in covered)


def test_the_older_usage_details_csv(cli, db: Path) -> None:
    path = BILLING / "focus-converters" / "azure-ea.csv"
    result = cli("ingest", path, "--db", db)
    assert result.code == 0, result.err
    billed, _, rows = _sums(db)
    assert rows == 27 and _reconciles(billed, _file_total(path, "CostInBillingCurrency"))
    with duckdb.connect(str(db), read_only=True) as con:
        first = con.execute(
            """SELECT "ChargePeriodStart"::DATE, "BillingCurrency", "Tags"['tag_a'], "ProviderName", "ConsumedUnit"
               FROM costs ORDER BY "ChargePeriodStart" LIMIT 1"""
        ).fetchone()
    assert (str(first[0]), first[1], first[2], first[3]) == ("2023-09-02", "CAD", "valueA", "Microsoft")


def test_actual_and_amortized_replace_each_other_and_never_double_count(cli, db: Path) -> None:
    assert cli("ingest", EA / "EA_ActualCost_Small.csv", "--db", db).code == 0
    assert cli("ingest", EA / "EA_AmortizedCost_Small.csv", "--db", db).code == 0
    _, effective, rows = _sums(db)
    assert rows == 28 and _reconciles(effective, _file_total(EA / "EA_AmortizedCost_Small.csv", "Cost"))


@pytest.mark.parametrize("path", list(CORPUS), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_azure_file_reconciles_per_billing_period(cli, db: Path, path: Path) -> None:
    """BilledCost for actual cost (and the usage details), EffectiveCost for amortized: the file's cost column."""
    result = cli("ingest", path, "--db", db)
    assert result.code == 0, result.err
    column = "EffectiveCost" if "Amortized" in path.name else "BilledCost"
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute(f"""SELECT "BillingPeriodStart"::DATE::VARCHAR, count(*), sum("{column}")
                                 FROM costs GROUP BY 1 ORDER BY 1""").fetchall()  # fmt: skip
    assert {period for period, *_ in stored} == set(CORPUS[path])
    for period, rows, total in stored:
        want_rows, want = CORPUS[path][period]
        assert rows == want_rows and _reconciles(total, Decimal(want)), (period, total, want)
        if len(want.split(".")[-1]) <= 15:  # within the store's 15 places the sum is the file's, digit for digit
            assert total == Decimal(want)


def test_mca_cost_details_as_microsoft_maps_them(cli, db: Path) -> None:
    assert cli("ingest", MCA, "--db", db).code == 0
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            """SELECT "x_Source", "BillingAccountId", "BillingAccountName", "BillingPeriodStart"::DATE::VARCHAR,
                      "BillingPeriodEnd"::DATE::VARCHAR, "ChargePeriodStart"::DATE::VARCHAR, "ChargeFrequency",
                      "PricingCategory", "SkuId", "SubAccountId", "ServiceName", "ConsumedQuantity", "ConsumedUnit",
                      "Tags"['app'], "x_Extras"->>'x_BillingAccountId', "x_Extras"->>'servicePeriodStartDate'
               FROM costs WHERE "SkuId" = 'TEST001'"""
        ).fetchone()
    # An MCA invoice is the billing profile's: FOCUS's billing account (Microsoft's FOCUS conversion); the
    # agreement's own billing account is kept as x_BillingAccountId, other columns as Azure names them.
    assert row[:3] == ("focus:Microsoft:test-profile-001", "test-profile-001", "Test Billing Profile")
    assert row[3:6] == ("2024-10-01", "2024-11-01", "2024-10-15")  # the month of `date`, as the file left it empty
    assert row[6:11] == ("Usage-Based", "Standard", "TEST001", "test-sub-001", "Virtual Machines")
    assert row[11:] == (24, "Hour", "test", "test-billing-account-001", "10/01/2024")


def test_pay_as_you_go_usage_details(cli, db: Path) -> None:
    """Usage only, on-demand; a pay-as-you-go subscription is invoiced on its own, so it is the billing account;
    `100 Hours` is a quantity in hundreds of hours."""
    assert cli("ingest", PAYG, "--db", db).code == 0
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            """SELECT "BillingAccountId", "SubAccountId", "ChargeCategory", "ChargeFrequency", "PricingCategory",
                      "BillingCurrency", "ResourceType", "ConsumedQuantity", "ConsumedUnit", "ChargePeriodStart"::DATE
               FROM costs"""
        ).fetchone()
    subscription = "11111111-12ab-34dc-56ef-123456abcdef"
    assert row[:6] == (subscription, subscription, "Usage", "Usage-Based", "Standard", "USD")
    assert row[6:9] == ("Microsoft.Network/loadBalancers", 300, "Hours") and str(row[9]) == "2021-02-02"


def test_localised_headers_read_as_their_english_names(tmp_path: Path) -> None:
    """The German portal download (`Abonnement-GUID (SubscriptionGuid)`) gives the very rows the English one does."""
    english = next(read_cost_details_batches(PAYG, dataset="actual"))
    german = next(read_cost_details_batches(OPENCOST / "headersets" / "German.csv", dataset="actual"))
    assert german.drop("x_Extras").to_dicts() == english.drop("x_Extras").to_dicts()


def test_the_control_total_is_the_files_own_cost_column() -> None:
    """Actual cost is checked against BilledCost, amortized against EffectiveCost: the store compares per period."""
    actual = next(read_cost_details_batches(EA / "EA_ActualCost_Small.csv", dataset="actual"))
    amortized = next(read_cost_details_batches(EA / "EA_AmortizedCost_Small.csv", dataset="amortized"))
    assert "_control_effective" not in actual.columns and "_control_billed" not in amortized.columns
    assert actual.get_column("_control_billed").sum().quantize(CENT) == Decimal("8.55")
    assert amortized.get_column("_control_effective").sum().quantize(CENT) == Decimal("16.30")
    assert amortized.get_column("BilledCost").sum() != amortized.get_column("_control_effective").sum()


def test_a_file_with_no_rows_loads_nothing(cli, db: Path) -> None:
    """finops-toolkit's EA_NoRows.csv: the header of an EA export and nothing else."""
    result = cli("ingest", BILLING / "azure-finops-toolkit" / "EA_NoRows.csv", "--db", db)
    assert result.code == 0, result.err
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM costs").fetchone() == (0,)


def test_an_empty_cost_is_refused_naming_row_and_column(cli, db: Path) -> None:
    """OpenCost's BOM.csv: a UTF-8 BOM, then a row with a date and nothing else."""
    result = cli("ingest", OPENCOST / "headersets" / "BOM.csv", "--db", db)
    assert result.code == 2
    assert "BOM.csv: row 1, column PreTaxCost: empty" in result.err and not db.exists()


def test_one_column_named_twice_in_two_cases_is_refused(cli, db: Path, tmp_path: Path) -> None:
    lines = PAYG.read_text().splitlines()
    twice = tmp_path / "twice.csv"
    twice.write_text("\n".join([lines[0].replace("ResourceRate", "pretaxcost"), *lines[1:]]) + "\n")
    result = cli("ingest", twice, "--db", db)
    message = " ".join(result.err.split())
    assert result.code == 2 and "twice.csv: duplicate column(s) pretaxcost, PreTaxCost" in message
    assert not db.exists()


# Headers of other Cost Management datasets, as Microsoft documents them (MicrosoftDocs/azure-docs,
# articles/cost-management-billing/dataset-schema/*.md, CC-BY-4.0): no public file of these was found.
OTHER_DATASETS = {
    "an Azure price sheet": "basePrice,billingAccountId,billingAccountName,billingCurrency,billingProfileId,"
    "billingProfileName,currency,discount,effectiveEndDate,effectiveStartDate,includedQuantity,marketPrice,meterId,"
    "meterCategory,meterName,meterSubCategory,meterType,meterRegion,priceType,Product,productId,serviceFamily,SkuID,"
    "Term,tierMinimumUnits,unitOfMeasure,unitPrice",  # price-sheet-mca.md, 2023-05-01
    "Azure reservation details": "InstanceFlexibilityGroup,InstanceFlexibilityRatio,InstanceId,Kind,"
    "ReservationOrderId,ReservationId,ReservedHours,RIUsedHours,SkuName,TotalReservedQuantity,UsageDate,UsedHours",
    "Azure reservation transactions": "Amount,ArmSkuName,BillingFrequency,BillingProfileId,BillingProfileName,"
    "Currency,Description,EventDate,EventType,Invoice,InvoiceId,InvoiceSectionId,InvoiceSectionName,"
    "PurchasingSubscriptionGuid,PurchasingSubscriptionName,Quantity,Region,ReservationOrderId,ReservationOrderName,"
    "Term",
    "Azure reservation recommendations": "SKU,Location,CostWithNoReservedInstances,FirstUsageDate,"
    "InstanceFlexibilityRatio,InstanceFlexibilityGroup,LookBackPeriod,MeterId,NetSavings,NormalizedSize,"
    "RecommendedQuantity,RecommendedQuantityNormalized,ResourceType,Scope,SubscriptionId,SkuProperties,Term,"
    "TotalCostWithReservedInstances",
}


@pytest.mark.parametrize("kind", list(OTHER_DATASETS))
def test_other_azure_datasets_are_named_and_refused(cli, db: Path, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "export.csv"
    path.write_text(OTHER_DATASETS[kind] + "\n")
    result = cli("ingest", path, "--db", db)
    assert result.code == 2 and f"{kind}, not cost details" in result.err, result.err
    assert "export cost details instead" in result.err and not db.exists()
