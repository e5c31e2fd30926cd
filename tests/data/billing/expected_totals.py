"""What every billing file in this folder should load as, computed without finops's code: plain `csv` and `Decimal`,
one definition per format, taken from that format's own documentation. Run it to rewrite expected_totals.json:

    python tests/data/billing/expected_totals.py

Per file: its kind, and BilledCost (and EffectiveCost where the format defines it) summed per billing period, provider
and currency, exactly as the file writes the numbers. tests/test_billing_corpus.py loads each file through
`finops ingest` and checks the store against these figures to the cent (and exactly where the file's numbers fit in
15 decimal places). A file the spec's own authors got wrong is listed as refused, with what finops must name.

- FOCUS (1.0-1.3 Cost and Usage): BilledCost and EffectiveCost per BillingPeriodStart, ProviderName (1.3:
  ServiceProviderName where present), BillingCurrency. Spreadsheet money (`$10,100.00`) is read as the number it shows.
- Files of other clouds' own formats (OCI cost reports, a BigQuery billing export saved as CSV) are refused by name.
- AWS CUR as parquet (written by AWS for Athena): line_item_unblended_cost, a DOUBLE read as repr() gives it, per
  bill_billing_period_start_date and currency. Needs pyarrow: run the script with `uv run python`.
- AWS CUR 1.0 CSV: lineItem/UnblendedCost per bill/BillingPeriodStartDate and lineItem/CurrencyCode; provider AWS.
  (AWS's invoice is the sum of unblended cost over every line item type.)
- FOCUS 1.3/1.4 Contract Commitment: ContractCommitmentCost per BillingCurrency, and the row count. The 1.4
  Billing Period and Invoice Detail datasets are not stored: finops must say so and load nothing.
- Azure cost details (EA, MCA, pay-as-you-go; header names in any case): the cost column (CostInBillingCurrency,
  Cost or PreTaxCost) per billing period (BillingPeriodStartDate, often a US date; where there is none, the month of
  the usage date) and currency; provider Microsoft. The actual-cost file's cost is what was billed; the
  amortized file's cost is the effective (amortised) cost, so it is checked against EffectiveCost.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).parent
NULLS = {"", "NULL", "null", "(null)"}
# Files whose own rows break the spec; finops must refuse them naming this.
REFUSED = {
    "focus-spec-1.2-examples/commitment_discount_scenarios/commitment_discount_purchase_scenario_2.csv": "T30:00:00Z",
    "focus-spec-1.2-examples/commitment_discount_scenarios/commitment_discount_purchase_scenario_3.csv": "T30:00:00Z",
    # OpenCost's header test file leaves PreTaxCost empty; Azure writes a cost (0 when free) on every row.
    "azure-opencost/headersets/BOM.csv": "row 1, column PreTaxCost: empty",
}


def money(text: str | None) -> Decimal:
    if text is None or text.strip() in NULLS:
        return Decimal(0)
    clean = text.strip()
    negative = clean.startswith("(") and clean.endswith(")")
    clean = (
        clean.strip("()").lstrip("$").replace(",", "") if re.fullmatch(r"\(?-?\$?[\d,]+(\.\d+)?\)?", clean) else clean
    )
    value = Decimal(clean)
    return -value if negative else value


def day(text: str) -> str:
    text = text.strip()
    if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}.*", text):
        return datetime.strptime(text.split()[0], "%m/%d/%Y").date().isoformat()
    if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{2}\b.*", text):  # spreadsheet dates in the spec's SaaS examples: 6/1/25
        return datetime.strptime(text.split()[0], "%m/%d/%y").date().isoformat()
    return text[:10]


def column(name: str) -> str:
    """A header name as the format documents it: Azure's localised portal exports write `Ressourcengruppe
    (ResourceGroup)`, the documented name in brackets."""
    name = name.strip()
    bracketed = re.fullmatch(r".+ \(([A-Za-z0-9]+)\)", name)
    return bracketed[1] if bracketed else name


def header_of(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [column(name) for name in next(csv.reader(handle), [])]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [
            {column(k): v for k, v in r.items() if k}
            for r in csv.DictReader(handle)
            if any((v or "").strip() for v in r.values())
        ]


def kind(header: set[str]) -> str:
    lower = {name.lower() for name in header}
    if "lineitem/referenceno" in lower:
        return "oci-cost-report"
    if {"billing_account_id", "cost", "credits"} <= lower:
        return "gcp-billing-export-file"
    if "ContractCommitmentId" in header:
        return "focus-contract-commitment"
    if "BillingPeriodStatus" in header:
        return "focus-billing-period"
    if "InvoiceDetailId" in header and "ChargePeriodStart" not in header:
        return "focus-invoice-detail"
    if "lineItem/UnblendedCost" in header:
        return "aws-cur-1.0"
    if "metercategory" in lower:  # EA and MCA (PascalCase, camelCase) and pay-as-you-go usage details
        return "azure-cost-details"
    return "focus"


def totals(path: Path) -> dict[str, object]:
    data = rows(path)
    header = set(header_of(path))
    found = kind(header)
    sums: dict[tuple[str, str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    if found in ("focus-billing-period", "focus-invoice-detail"):  # FOCUS 1.4 datasets finops does not store
        return {"kind": found, "refused": "which finops does not store"}
    if found == "oci-cost-report":  # OCI's own format: finops reads OCI's FOCUS reports instead
        return {"kind": found, "refused": "Oracle Cloud (OCI) cost report"}
    if found == "gcp-billing-export-file":  # read from BigQuery by the gcp-billing-export source, not as a file
        return {"kind": found, "refused": "Google Cloud billing export from BigQuery"}
    for row in data:
        if found == "focus-contract-commitment":  # ContractCommitmentCost per currency: what the commitments cost
            sums[("", "", row["BillingCurrency"].strip())]["commitment_cost"] += money(row["ContractCommitmentCost"])
        elif found == "focus":
            provider = row.get("ServiceProviderName") or row.get("ProviderName") or ""
            key = (day(row["BillingPeriodStart"]), provider.strip(), (row.get("BillingCurrency") or "").strip())
            sums[key]["billed"] += money(row["BilledCost"])
            sums[key]["effective"] += money(row["EffectiveCost"])
        elif found == "aws-cur-1.0":
            key = (day(row["bill/BillingPeriodStartDate"]), "AWS", row["lineItem/CurrencyCode"])
            sums[key]["billed"] += money(row["lineItem/UnblendedCost"])
        else:
            low = {k.lower(): v for k, v in row.items()}
            cost = next(low[c] for c in ("costinbillingcurrency", "cost", "pretaxcost") if c in low)
            currency = low.get("billingcurrencycode") or low.get("billingcurrency") or low.get("currency") or ""
            # The billing period as the file states it, else the calendar month of the usage date (pay-as-you-go
            # usage details have no billing period column).
            stated = low.get("billingperiodstartdate") or ""
            period = day(stated) if stated.strip() else day(low.get("date") or low["usagedatetime"])[:8] + "01"
            key = (period, "Microsoft", currency)
            column = "effective" if "amortized" in path.name.lower() else "billed"
            sums[key][column] += money(cost)
    return {
        "kind": found,
        "rows": len(data),
        "totals": [
            {"billing_period": p, "provider": prov, "currency": cur, **{k: str(v) for k, v in sorted(amounts.items())}}
            for (p, prov, cur), amounts in sorted(sums.items())
        ],
    }


def cur_parquet_totals(path: Path) -> dict[str, object]:
    """CUR written by AWS as parquet: money as DOUBLE, read as the shortest decimal that round-trips (repr)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["bill_billing_period_start_date", "line_item_currency_code",
                                         "line_item_unblended_cost"]).to_pylist()  # fmt: skip
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in table:
        period = row["bill_billing_period_start_date"].date().isoformat()
        sums[(period, row["line_item_currency_code"])] += Decimal(repr(row["line_item_unblended_cost"] or 0.0))
    return {
        "kind": "aws-cur-parquet",
        "rows": len(table),
        "totals": [{"billing_period": p, "provider": "AWS", "currency": c, "billed": str(v)}
                   for (p, c), v in sorted(sums.items())],
    }  # fmt: skip


def main() -> None:
    expected: dict[str, object] = {}
    for path in sorted(HERE.rglob("*.parquet")):
        expected[path.relative_to(HERE).as_posix()] = cur_parquet_totals(path)
    for path in sorted(HERE.rglob("*.csv")):
        name = path.relative_to(HERE).as_posix()
        expected[name] = {"refused": REFUSED[name]} if name in REFUSED else totals(path)
    (HERE / "expected_totals.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
