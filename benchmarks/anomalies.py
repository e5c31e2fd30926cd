"""ANO001 on a labelled synthetic set: precision and recall, printed.

    uv run python benchmarks/anomalies.py [--series 80] [--seed 7]

Each series is a daily usage cost with weekday seasonality and noise. Planted, and labelled:
- spikes (one day, x2 to x4): must be found;
- level shifts (x1.6 from a day on): found as one episode starting on the shift day (an episode starting on
  one of the next three days is not counted either way);
- slow drift (+0.7 %/day): must not be found;
- restated days (the last two days, still partial): must not be found.
Everything else must not be found. Nothing here is asserted: the numbers are for people to read.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl

from finops.coerce import coerce
from finops.rules_engine import load_rules, run_rule
from finops.schema import COSTS
from finops.store import open_store

START, DAYS, EVAL_DAYS = date(2026, 6, 1), 150, 60


def generate(
    series: int, seed: int
) -> tuple[list[dict[str, str]], set[tuple[str, date]], set[tuple[str, date]], dict[str, str]]:
    rng = random.Random(seed)
    rows, positives, ignored, kinds = [], set(), set(), {}
    eval_start = START + timedelta(days=DAYS - EVAL_DAYS)
    for s in range(series):
        service, team = f"Service {s % 17}", f"team-{s % 11}"
        key = f"AWS / {service} / {team}"
        base = rng.uniform(300, 6000)
        weekend = rng.uniform(0.5, 1.3)
        kind = rng.choice(["spike", "spike", "shift", "drift", "none", "none"])
        kinds[key] = kind
        event = eval_start + timedelta(days=rng.randrange(5, EVAL_DAYS - 8))
        for offset in range(DAYS):
            day = START + timedelta(days=offset)
            cost = base * (weekend if day.weekday() >= 5 else 1.0) * rng.uniform(0.95, 1.05)
            if kind == "spike" and day == event:
                cost *= rng.uniform(2.0, 4.0)
                positives.add((key, day))
            elif kind == "shift" and day >= event:
                cost *= 1.6
                if day == event:
                    positives.add((key, day))
                elif day <= event + timedelta(days=3):
                    ignored.add((key, day))
            elif kind == "drift":
                cost *= 1.007**offset
            if offset >= DAYS - 2:  # still open: the provider has not billed the whole day yet
                cost *= rng.uniform(0.3, 0.7)
            rows.append({
                "ServiceName": service, "Tags": f'{{"team": "{team}"}}', "EffectiveCost": f"{cost:.2f}",
                "BilledCost": f"{cost:.2f}", "ChargePeriodStart": f"{day}T00:00:00Z",
                "ChargePeriodEnd": f"{day + timedelta(days=1)}T00:00:00Z",
                "BillingPeriodStart": f"{day.replace(day=1)}T00:00:00Z",
                "BillingPeriodEnd": f"{(day.replace(day=28) + timedelta(days=4)).replace(day=1)}T00:00:00Z",
                "ChargeCategory": "Usage", "ProviderName": "AWS", "BillingCurrency": "USD",
            })  # fmt: skip
    return rows, positives, ignored, kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=80)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows, positives, ignored, kinds = generate(args.series, args.seed)
    rule = next(r for r in load_rules() if r.id == "ANO001")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "anomalies.duckdb"
        frame = pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.String))
        frame = coerce(frame, COSTS, file="synthetic").with_columns(x_Source=pl.lit("synthetic"))
        with open_store(db) as store:
            store.replace_slices(COSTS, [frame], checksum="s", inputs=["synthetic"])
            eval_start = START + timedelta(days=DAYS - EVAL_DAYS)
            findings = run_rule(store, rule, eval_start, START + timedelta(days=DAYS), {})
    found = set()  # an episode counts by its first day
    for finding in findings:
        key, _, day = finding.subject.rpartition(" from ")
        found.add((key, date.fromisoformat(day)))
    judged = found - ignored
    tp = len(judged & positives)
    fp = len(judged - positives)
    fn = len(positives - found)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    money = sum((f.amount or Decimal(0)) for f in findings)
    print(f"series {args.series}, {EVAL_DAYS} days judged, {len(positives)} planted anomalies "
          f"(seed {args.seed}, {datetime.now(UTC):%Y-%m-%d})")  # fmt: skip
    print(
        f"ANO001 defaults: {len(findings)} findings, {tp} right, {fp} false, {fn} missed; "
        f"precision {precision:.2f}, recall {recall:.2f}; flagged money {money:,.2f}"
    )
    false_by_kind = Counter(kinds[key] for key, _ in judged - positives)
    open_days = sum(1 for key, day in judged - positives if day >= START + timedelta(days=DAYS - 2))
    print("false findings by the series' kind: "
          + ", ".join(f"{kind} {false_by_kind.get(kind, 0)}" for kind in ("spike", "shift", "drift", "none"))
          + f"; on days still open to restatement: {open_days}")  # fmt: skip


if __name__ == "__main__":
    main()
