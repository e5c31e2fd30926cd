"""Contract commitments (FOCUS 1.3+): each commitment's term and amount, and what the period's cost rows used of it.

A cost row references a commitment in one of two ways, never counted twice:
- `ContractApplied` (FOCUS 1.3): a JSON object whose `Elements` each name a ContractCommitmentId and the amount the
  charge applied to it (`ContractCommitmentAppliedCost`, or `ContractCommitmentAppliedQuantity` for a usage
  commitment). These amounts are read as exact decimals from the JSON text (DuckDB's JSON functions read numbers as
  doubles).
- otherwise `CommitmentDiscountId` equal to the ContractCommitmentId (commitment discounts), the row's
  EffectiveCost being what it used.

Only Usage rows count (a Purchase row applies the commitment's fee, not its use). A row whose CommitmentDiscountStatus
is "Unused" is the unused part of the commitment in its charge period; every other referencing row is used.
Rows are grouped by (text, status) in DuckDB first, so each distinct ContractApplied text is parsed once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from finops.store import Store


@dataclass(frozen=True)
class Commitment:
    commitment_id: str
    contract_id: str
    kind: str | None  # ContractCommitmentType: "Savings Plan", "Minimum Spend"...
    category: str | None  # Spend or Usage
    start: datetime | None
    end: datetime | None
    amount: Decimal | None  # ContractCommitmentCost, in currency
    currency: str | None
    quantity: Decimal | None  # ContractCommitmentQuantity, in unit (usage commitments)
    unit: str | None
    used: Decimal  # in the period: cost applied (or quantity, for a usage commitment whose rows apply quantities)
    unused: Decimal
    applied_as: str  # "cost" or "quantity": what `used` and `unused` count

    @property
    def utilisation(self) -> Decimal | None:
        """used / (used + unused) in the period, when any part of the commitment was charged then."""
        charged = self.used + self.unused
        return self.used / charged if charged else None


def read_commitments(store: Store, start: datetime, end: datetime) -> tuple[Commitment, ...]:
    """The commitments whose term overlaps [start, end), with what the cost rows charged in that window used and
    left unused of each. Empty when the store holds none (the report then shows no section)."""
    rows = store.fetch(
        """SELECT "ContractCommitmentId", "ContractId", "ContractCommitmentType", "ContractCommitmentCategory",
                  "ContractCommitmentPeriodStart", "ContractCommitmentPeriodEnd", "ContractCommitmentCost",
                  "BillingCurrency", "ContractCommitmentQuantity", "ContractCommitmentUnit"
           FROM contract_commitments
           WHERE coalesce("ContractCommitmentPeriodStart", ?) < ? AND coalesce("ContractCommitmentPeriodEnd", ?) > ?
           ORDER BY "ContractCommitmentPeriodStart", "ContractCommitmentId" """,
        [start, end, end, start],
    )
    if not rows:
        return ()
    ids = [row[0] for row in rows]
    cost, quantity = _applied(store, ids, start, end)
    commitments = []
    for cid, contract, kind, category, c_start, c_end, amount, currency, qty, unit in rows:
        as_quantity = category == "Usage" and cid in quantity and cid not in cost
        used, unused = (quantity if as_quantity else cost).get(cid, (Decimal(0), Decimal(0)))
        commitments.append(
            Commitment(
                cid,
                contract,
                kind,
                category,
                c_start,
                c_end,
                amount,
                currency,
                qty,
                unit,
                used,
                unused,
                "quantity" if as_quantity else "cost",
            )
        )
    return tuple(commitments)


def _applied(
    store: Store, ids: list[str], start: datetime, end: datetime
) -> tuple[dict[str, tuple[Decimal, Decimal]], dict[str, tuple[Decimal, Decimal]]]:
    """Per commitment id, (used, unused) cost and (used, unused) quantity applied by Usage rows in [start, end)."""
    cost: dict[str, list[Decimal]] = {}
    quantity: dict[str, list[Decimal]] = {}
    # A constant of this module, no value spliced in: the window's bounds are parameters.
    window = '"ChargePeriodStart" >= ? AND "ChargePeriodStart" < ? AND "ChargeCategory" = \'Usage\''
    grouped = store.fetch(
        f"""SELECT "ContractApplied", "CommitmentDiscountStatus" = 'Unused', count(*) FROM costs
            WHERE {window} AND "ContractApplied" IS NOT NULL GROUP BY ALL""",  # noqa: S608
        [start, end],
    )
    wanted = set(ids)
    for text, unused, count in grouped:
        for element in _elements(str(text)):
            cid = element.get("ContractCommitmentId")
            if cid not in wanted:
                continue
            for key, totals in (
                ("ContractCommitmentAppliedCost", cost),
                ("ContractCommitmentAppliedQuantity", quantity),
            ):
                value = element.get(key)
                if isinstance(value, Decimal | int):
                    pair = totals.setdefault(cid, [Decimal(0), Decimal(0)])
                    pair[1 if unused else 0] += Decimal(value) * count
    discounts = store.fetch(
        f"""SELECT "CommitmentDiscountId", "CommitmentDiscountStatus" = 'Unused', sum("EffectiveCost") FROM costs
            WHERE {window} AND "ContractApplied" IS NULL AND "CommitmentDiscountId" IN (SELECT unnest(?))
            GROUP BY ALL""",  # noqa: S608
        [start, end, ids],
    )
    for cid, unused, amount in discounts:
        pair = cost.setdefault(cid, [Decimal(0), Decimal(0)])
        pair[1 if unused else 0] += amount or Decimal(0)
    return ({k: (v[0], v[1]) for k, v in cost.items()}, {k: (v[0], v[1]) for k, v in quantity.items()})


def _elements(text: str) -> list[dict[str, object]]:
    try:
        parsed = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError:
        return []
    elements = parsed.get("Elements") if isinstance(parsed, dict) else None
    return [e for e in elements if isinstance(e, dict)] if isinstance(elements, list) else []
