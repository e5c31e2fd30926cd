"""Chargeback and showback: the policy, the exact split, and `finops report --by team` on the demo data."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finops.allocation import CostGroup, allocate, largest_remainder, read_allocation
from finops.allocation_policy import UNALLOCATED, AllocationPolicy, SharedPool, parse_policy
from finops.coerce import coerce
from finops.errors import UsageError
from finops.money import CENT
from finops.schema import COSTS, GPU_PROCESSES, GPU_SAMPLES
from finops.store import open_store

DEMO_POLICY = Path(__file__).parents[1] / "sample_data" / "finops.toml"
TEAMS = ["research", "data", "inference", "platform"]


# -- the invariant ---------------------------------------------------------------------------------------------------

money = st.decimals(min_value=-2000, max_value=50000, places=15, allow_nan=False, allow_infinity=False)
pools_strategy = st.lists(
    st.builds(
        lambda name, split, weights, teams: SharedPool(name, split, services=(name,), weights=weights, teams=teams),
        st.sampled_from(["net", "k8s", "support", "gpu-node"]),
        st.sampled_from(["even", "spend", "weights", "gpu-hours", "gpu-sm"]),
        st.dictionaries(st.sampled_from(TEAMS), st.integers(0, 5).map(float), min_size=1),
        st.lists(st.sampled_from(TEAMS), max_size=3, unique=True).map(tuple),
    ),
    max_size=4,
    unique_by=lambda p: p.name,
)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            money,
            st.sampled_from([None, *TEAMS]),
            st.sampled_from([None, "net", "k8s", "support", "gpu-node"]),
            st.sampled_from([None, "r1", "r2", "r3"]),
        ),
        max_size=40,
    ),
    pools=pools_strategy,
    idle=st.dictionaries(st.sampled_from(["r1", "r2", "r3"]), st.decimals(0, 5000, places=2)),
    usage=st.dictionaries(st.sampled_from([*TEAMS, "(unlabelled)"]), st.floats(0, 1e6)),
)
def test_allocations_sum_exactly_to_the_total(rows, pools, idle, usage) -> None:
    policy = AllocationPolicy(shared=tuple(pools))
    names = {p.name for p in pools}
    groups = [CostGroup(a, None if pool in names else team, pool if pool in names else None, res)
              for a, team, pool, res in rows]  # fmt: skip
    result = allocate(groups, policy, {p.name: usage for p in pools}, idle)

    exact = sum((g.amount for g in groups), Decimal(0))
    assert result.exact_total == exact
    assert result.total == exact.quantize(CENT)
    assert sum((t.total for t in result.teams), Decimal(0)) == result.total
    for team in result.teams:
        assert team.direct + team.shared + team.idle == team.total
        for value in (team.direct, team.shared, team.idle):
            assert value == value.quantize(CENT)
    for pool in result.pools:
        assert sum(pool.shares.values(), Decimal(0)) == pool.amount
    if all(g.amount >= 0 for g in groups):
        # with no credits, nobody is charged less than nothing, in any column (up to the rounding cent)
        assert all(min(t.direct, t.shared, t.idle) >= -CENT for t in result.teams)


def test_largest_remainder_gives_the_odd_cent_to_the_largest_remainder() -> None:
    thirds = {"a": Fraction(1, 3), "b": Fraction(1, 3), "c": Fraction(1, 3)}
    assert largest_remainder(thirds, 100) == {"a": 34, "b": 33, "c": 33}
    assert largest_remainder({"a": Fraction(2, 3) / 100, "b": Fraction(1, 3) / 100}, 1) == {"a": 1, "b": 0}


def test_pools_split_as_declared() -> None:
    policy = AllocationPolicy(
        shared=(
            SharedPool("even", "even", services=("x",)),
            SharedPool("spend", "spend", services=("x",)),
            SharedPool("weights", "weights", services=("x",), weights={"a": 3, "b": 1}),
        )
    )
    groups = [
        CostGroup(Decimal(300), "a", None),
        CostGroup(Decimal(100), "b", None),
        CostGroup(Decimal(10), None, "even"),
        CostGroup(Decimal(40), None, "spend"),
        CostGroup(Decimal(8), None, "weights"),
        CostGroup(Decimal(7), None, None),
    ]
    result = allocate(groups, policy)
    shares = {p.name: p.shares for p in result.pools}
    assert shares["even"] == {"a": Decimal(5), "b": Decimal(5)}
    assert shares["spend"] == {"a": Decimal(30), "b": Decimal(10)}
    assert shares["weights"] == {"a": Decimal(6), "b": Decimal(2)}
    teams = {t.team: t for t in result.teams}
    assert teams["a"].shared == Decimal(41) and teams["b"].shared == Decimal(17)
    assert teams[UNALLOCATED].total == Decimal(7)
    assert result.total == Decimal(465)


def test_idle_is_carved_out_of_direct_and_follows_a_pool_split() -> None:
    policy = AllocationPolicy(shared=(SharedPool("node", "weights", services=("x",), weights={"a": 1, "b": 1}),))
    groups = [
        CostGroup(Decimal(100), "a", None, "i-own"),
        CostGroup(Decimal(50), "b", None, "b-disk"),
        CostGroup(Decimal(80), None, "node", "i-shared"),
    ]
    result = allocate(groups, policy, idle_by_resource={"i-own": Decimal(30), "i-shared": Decimal(20)})
    teams = {t.team: t for t in result.teams}
    assert (teams["a"].direct, teams["a"].shared, teams["a"].idle) == (Decimal(70), Decimal(30), Decimal(40))
    assert (teams["b"].direct, teams["b"].shared, teams["b"].idle) == (Decimal(50), Decimal(30), Decimal(10))


# -- the policy ------------------------------------------------------------------------------------------------------


def test_team_resolution_follows_the_precedence() -> None:
    policy = parse_policy(
        {
            "team_tags": ["Team", "cost-center"],
            "aliases": {"cc-data": "data"},
            "accounts": {"lumen-ml": "research"},
            "namespaces": {"serving": "inference"},
        },
        "finops.toml",
    )
    assert policy.team_tags == ("team", "cost_center")
    assert policy.team_of({"team": "web", "cost_center": "cc-data"}, ("lumen-ml",)) == "web"
    assert policy.team_of({"cost_center": "cc-data"}, ("lumen-ml",)) == "data"
    assert policy.team_of({"namespace": "serving"}, ("lumen-ml",)) == "inference"
    assert policy.team_of({}, (None, "lumen-ml")) == "research"
    assert policy.team_of({"owner": "dana"}, ("other",)) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"basis": "invoice"}, "allocation.basis = 'invoice' is unknown"),
        ({"teams": {}}, "unknown key allocation.teams"),
        ({"aliases": {"cc-data": 3}}, "allocation.aliases must map names to team names"),
        ({"shared": [{"name": "x", "services": ["S"], "split": "evenly"}]}, "allocation.shared[0].split"),
        ({"shared": [{"name": "x"}]}, "allocation.shared[0] (x) matches nothing"),
        ({"shared": [{"name": "x", "services": ["S"], "split": "weights"}]}, "needs weights"),
        ({"shared": [{"services": ["S"]}]}, "allocation.shared[0].name is missing"),
        ({"shared": [{"name": "x", "services": ["S"], "weight": {}}]}, "unknown key allocation.shared[0].weight"),
    ],
)
def test_bad_policies_name_the_key(raw: dict, message: str) -> None:
    with pytest.raises(UsageError) as error:
        parse_policy(raw, "finops.toml")
    assert "finops.toml" in error.value.message and message in error.value.message


def test_a_bad_policy_in_the_config_file_is_a_usage_error(cli, demo_db: Path, tmp_path: Path) -> None:
    config = tmp_path / "finops.toml"
    config.write_text('[allocation]\nbasis = "invoice"\n')
    result = cli("--config", config, "report", "--db", demo_db, "--by", "team")
    assert result.code == 2
    assert "allocation.basis" in result.err and "chargeback" in result.err


# -- on the demo data ------------------------------------------------------------------------------------------------


@pytest.fixture
def demo_config(tmp_path: Path) -> Path:
    target = tmp_path / "finops.toml"
    shutil.copy(DEMO_POLICY, target)
    return target


def _by_team(cli, demo_db: Path, config: Path, *extra: str) -> dict:
    result = cli("--config", config, "report", "--db", demo_db, "--by", "team", "--period", "90d",
                 "--as-of", "2026-11-20", "--format", "json", *extra)  # fmt: skip
    assert result.code == 0, result.err
    return json.loads(result.out)


def _sql(demo_db: Path, query: str) -> Decimal:
    with duckdb.connect(str(demo_db), read_only=True) as con:
        return con.execute(query).fetchone()[0]  # type: ignore[index]


def test_chargeback_on_the_demo_reconciles_to_the_bill(cli, demo_db: Path, demo_config: Path) -> None:
    doc = _by_team(cli, demo_db, demo_config)
    allocation = doc["allocation"]
    teams = {t["team"]: t for t in allocation["teams"]}
    bill = _sql(demo_db, 'SELECT sum("EffectiveCost") FROM costs')
    assert Decimal(allocation["total"]) == Decimal(doc["total"]["amount"]).quantize(CENT) == bill.quantize(CENT)
    assert Decimal(allocation["total"]) == Decimal("1084535.77")  # sample_data/README.md
    assert sum(Decimal(t["total"]) for t in teams.values()) == Decimal(allocation["total"])
    for column in ("direct", "shared", "idle"):
        assert all(Decimal(t[column]) >= 0 for t in teams.values())
    # the untagged Savings-Plan p4d has no team and no pool: unallocated, its idle hours as in the GPU section
    assert Decimal(teams[UNALLOCATED]["total"]) == Decimal("45360.00")
    assert Decimal(teams[UNALLOCATED]["idle"]) == Decimal("18375.00")
    # research's idle: the a3, the ND H100, both p5 and the dev box (its owner, dana, is aliased to research)
    idle = ("121785.00", "62039.92", "13863.12", "12191.68", "2172.96")  # sample_data/README.md, per instance
    assert Decimal(teams["research"]["idle"]) == sum((Decimal(x) for x in idle), Decimal(0))
    pools = {p["name"]: p for p in allocation["pools"]}
    networking = _sql(demo_db, """SELECT sum("EffectiveCost") FROM costs WHERE "ServiceName" IN
                      ('AWS Data Transfer', 'Amazon Virtual Private Cloud', 'Bandwidth')""")  # fmt: skip
    assert Decimal(pools["networking"]["amount"]) == networking.quantize(CENT)
    # weights 4:2:1:1: research carries half of support, to within the one cent rounding gives someone
    assert abs(Decimal(pools["support"]["shares"]["research"]) - Decimal(pools["support"]["amount"]) / 2) < CENT
    assert len(set(pools["kubernetes"]["shares"].values())) <= 2  # even: equal to the cent (one odd cent at most)


def test_showback_is_usage_before_credits_and_fees(cli, demo_db: Path, demo_config: Path) -> None:
    demo_config.write_text(demo_config.read_text().replace('basis = "chargeback"', 'basis = "showback"'))
    allocation = _by_team(cli, demo_db, demo_config)["allocation"]
    assert allocation["basis"] == "showback"
    assert Decimal(allocation["total"]) == Decimal("1045126.02")  # usage, effective: sample_data/README.md
    assert "credits, tax and fees" not in {p["name"] for p in allocation["pools"]}


def test_by_team_in_the_terminal_and_in_markdown(cli, demo_db: Path, demo_config: Path) -> None:
    table = cli("--config", demo_config, "report", "--db", demo_db, "--by", "team", "--period", "90d")
    assert table.code == 0, table.err
    assert "By team (chargeback" in table.out and "$1,084,536" in table.out and "(unallocated)" in table.out
    markdown = cli("--config", demo_config, "report", "--db", demo_db, "--by", "team", "--format", "markdown")
    assert "| Team | Direct | Shared | Idle GPU | Total |" in markdown.out


# -- GPU usage splits, from telemetry --------------------------------------------------------------------------------

T0 = datetime(2026, 10, 5, tzinfo=UTC)
NODE = "arn:aws:ec2:us-east-1:111122223333:instance/i-0shared"


def _shared_node_store(db: Path) -> None:
    costs = pl.DataFrame({
        "ProviderName": ["AWS"] * 2, "ServiceName": ["Amazon Elastic Compute Cloud"] * 2,
        "ResourceId": [NODE, "bucket-a"], "Tags": [None, '{"team": "a"}'],
        "ChargeCategory": ["Usage"] * 2, "BilledCost": ["960", "40"], "EffectiveCost": ["960", "40"],
        "ChargePeriodStart": [T0, T0], "ChargePeriodEnd": [T0 + timedelta(days=1)] * 2,
        "BillingPeriodStart": [T0.replace(day=1)] * 2, "BillingPeriodEnd": [datetime(2026, 11, 1, tzinfo=UTC)] * 2,
        "BillingCurrency": ["USD"] * 2, "ConsumedUnit": ["Hours", None], "ConsumedQuantity": ["24", None],
    })  # fmt: skip
    hours = [T0 + timedelta(hours=h) for h in range(24)]
    # GPU 0 busy all day for team a; GPU 1 busy 8 h for team b and idle the rest of the day.
    samples = pl.DataFrame({
        "ts": hours * 2, "instance_id": ["i-0shared"] * 48, "gpu_uuid": ["GPU-0"] * 24 + ["GPU-1"] * 24,
        "interval_s": [3600.0] * 48, "sm_active_pct": [80.0] * 24 + [60.0] * 8 + [0.0] * 16,
        "process_count": [1] * 32 + [0] * 16,
        "labels": ['{"team": "a"}'] * 24 + ['{"team": "b"}'] * 24, "x_Source": ["t"] * 48, "x_Day": [T0.date()] * 48,
    })  # fmt: skip
    processes = pl.DataFrame({
        "ts": hours[:4] * 2, "gpu_uuid": ["GPU-0"] * 8, "pid": [1] * 4 + [2] * 4,
        "namespace": ["ns-a"] * 4 + ["ns-b"] * 4, "sm_util_pct": [30.0] * 4 + [10.0] * 4, "x_Source": ["t"] * 8,
        "x_Day": [T0.date()] * 8,
    })  # fmt: skip
    with open_store(db) as store:
        store.replace_slices(
            COSTS, [coerce(costs, COSTS, file="costs").with_columns(x_Source=pl.lit("t"))], checksum="c", inputs=["t"]
        )
        store.replace_slices(GPU_SAMPLES, [coerce(samples, GPU_SAMPLES, file="samples")], checksum="s", inputs=["t"])
        store.replace_slices(
            GPU_PROCESSES, [coerce(processes, GPU_PROCESSES, file="processes")], checksum="p", inputs=["t"]
        )


@pytest.mark.parametrize(("split", "expected"), [("gpu-hours", {"a": 720, "b": 240}), ("gpu-sm", {"a": 720, "b": 240})])
def test_a_shared_gpu_node_is_split_by_who_used_it(db: Path, split: str, expected: dict[str, int]) -> None:
    _shared_node_store(db)
    policy = AllocationPolicy(
        namespaces={"ns-a": "a", "ns-b": "b"}, shared=(SharedPool("gpu node", split, resources=(NODE,)),)
    )
    with open_store(db, read_only=True) as store:
        result = read_allocation(store, policy, T0, T0 + timedelta(days=1))
    (pool,) = result.pools
    assert pool.split == split
    # busy GPU-hours 24 (a) : 8 (b); SM time 4 x 30 (a) : 4 x 10 (b): 3 to 1 both ways
    assert pool.shares == {team: Decimal(v) for team, v in expected.items()}
    assert result.total == Decimal(1000)


def test_a_gpu_split_without_telemetry_falls_back_to_spend_and_says_so(db: Path) -> None:
    _shared_node_store(db)
    policy = AllocationPolicy(shared=(SharedPool("other node", "gpu-hours", resources=("i-0nothere",)),))
    groups = [CostGroup(Decimal(10), "a", None), CostGroup(Decimal(5), None, "other node", "i-0nothere")]
    result = allocate(groups, policy, {"other node": {}})
    assert result.pools[0].split == "spend" and "no GPU telemetry" in result.warnings[0]


# -- a policy naming what the store does not hold --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "message", "hint"),
    [
        ('cc-data = "data"', 'cc-dta = "data"',
         "allocation.aliases: 'cc-dta' matches no value of the team tags (team, cost_center, owner)",
         "did you mean 'cc-data'?"),
        ('lumen-platform = "platform"', 'lumen-platfrom = "platform"',
         "allocation.accounts: 'lumen-platfrom' matches no account (id or name)", "did you mean 'lumen-platform'?"),
        ('"Bandwidth"]', '"Bandwith"]', "allocation.shared[0] (networking).services = 'Bandwith' matches no service",
         "did you mean 'Bandwidth'?"),
        ("research = 4, inference", "reserch = 4, inference",
         "allocation.shared[2] (support).weights: 'reserch' matches no team", "did you mean 'research'?"),
        ('split = "even"', 'split = "even"\nteams = ["data", "infrence"]',
         "allocation.shared[1] (kubernetes).teams = 'infrence' matches no team", "did you mean 'inference'?"),
        ('split = "even"', 'split = "even"\ncategories = ["usage"]',
         "allocation.shared[1] (kubernetes).categories = 'usage' matches no charge category", "did you mean 'Usage'?"),
        ('split = "even"', 'split = "even"\ntags = { projct = "x" }',
         "allocation.shared[1] (kubernetes).tags: 'projct' matches no tag key", "did you mean 'project'?"),
        ('split = "even"', 'split = "even"\nresources = ["i-0nothere"]',
         "allocation.shared[1] (kubernetes).resources = 'i-0nothere' matches no resource",
         "the closest resource ids: "),
        ("[allocation.accounts]", '[allocation.namespaces]\nml-servng = "inference"\n\n[allocation.accounts]',
         "allocation.namespaces: 'ml-servng' matches no namespace", "the store holds none"),
    ],
)  # fmt: skip
def test_a_policy_naming_what_the_store_lacks_is_refused(cli, demo_db: Path, demo_config: Path, old: str, new: str,
                                                         message: str, hint: str) -> None:  # fmt: skip
    """A typo in a map or a pool moves cost in silence (a pool that catches nothing, an alias never applied)."""
    text = demo_config.read_text()
    assert old in text
    demo_config.write_text(text.replace(old, new, 1))
    for fmt in ("table", "json"):
        result = cli("--config", demo_config, "report", "--db", demo_db, "--by", "team", "--format", fmt)
        assert result.code == 2 and result.out == ""
        assert f"{demo_config}: {message}" in result.err and hint in result.err


def test_the_policy_is_checked_against_telemetry_too(db: Path) -> None:
    """Namespaces and teams that only GPU processes and labels name (the gpu-sm and gpu-hours splits) are known."""
    from finops.allocation_policy import check_scopes
    from finops.scopes import StoreValues

    _shared_node_store(db)
    pool = SharedPool("gpu node", "gpu-sm", resources=(NODE,), teams=("a", "b"))
    policy = AllocationPolicy(namespaces={"ns-a": "a", "ns-b": "b"}, origin="finops.toml", shared=(pool,))
    with open_store(db, read_only=True) as store:
        check_scopes(policy, StoreValues(store, policy))  # every name is in the store: no error
        typo = AllocationPolicy(namespaces={"ns-c": "c"}, origin="finops.toml")
        with pytest.raises(UsageError) as error:
            check_scopes(typo, StoreValues(store, typo))
    assert "allocation.namespaces: 'ns-c' matches no namespace" in error.value.message
    assert "Valid: ns-a, ns-b" in (error.value.hint or "")
