"""What a scope may name: the teams, services, accounts, endpoints and resources the store holds.

A budget, an allocation map or a rule parameter that names a value the store has never held matches nothing, and
keeps matching nothing: a typo in a budget's team passed every check at $0.00. So every value a scope names must
be in the store (at any time, not only in the period looked at); one that is not is a configuration error (exit 2)
naming where it was written, the key and the value, with the closest values the store does hold. A table with no
rows at all checks nothing (there is nothing to compare with): the budget check says "no data" instead.

Values match as their readers match them: teams as the allocation policy resolves them (tags in precedence,
aliases, Kubernetes namespaces, accounts; telemetry labels and process namespaces for GPU time), accounts by id or
name, tags by key and value after key normalisation.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finops.allocation_policy import AllocationPolicy
from finops.allocation_usage import _process_team as process_team
from finops.errors import UsageError, did_you_mean
from finops.store import Store, open_store

if TYPE_CHECKING:
    from finops.rules_engine import Rule

LISTED = 30  # beyond this many values a hint names the closest few, not all
TEAM_TABLES = ("costs", "gpu_samples", "gpu_processes")
# A rule's `str` parameter named after one of these (or ending in `_` and one) names a value in the store.
PARAM_SCOPES = {
    "team": TEAM_TABLES,
    "endpoint": ("usage_metrics",),
    "resource": ("costs", "gpu_samples"),
    "provider": ("costs",),
    "service": ("costs",),
    "account": ("costs",),
    "category": ("costs",),
}


class StoreValues:
    """The values a scope can name, each read from the store once and only when a scope asks for it."""

    def __init__(self, store: Store, policy: AllocationPolicy, tag_keys: Iterable[str] = ()) -> None:
        self.store = store
        self.policy = policy
        self.tag_keys = tuple(dict.fromkeys([*policy.tag_keys(), *tag_keys]))
        self._known: dict[str, frozenset[str]] = {}

    def has(self, *tables: str) -> bool:
        """Whether any of the tables holds a row (a scope over empty tables checks nothing)."""
        return any(self._counts.get(table, 0) > 0 for table in tables)

    @cached_property
    def _counts(self) -> dict[str, int]:
        rows = self.store.fetch(
            """SELECT 'costs', count(*) FROM (SELECT 1 FROM costs LIMIT 1)
               UNION ALL SELECT 'usage_metrics', count(*) FROM (SELECT 1 FROM usage_metrics LIMIT 1)
               UNION ALL SELECT 'gpu_samples', count(*) FROM (SELECT 1 FROM gpu_samples LIMIT 1)
               UNION ALL SELECT 'gpu_processes', count(*) FROM (SELECT 1 FROM gpu_processes LIMIT 1)"""
        )
        return {table: int(n) for table, n in rows}

    @cached_property
    def cost_rows(self) -> list[tuple[dict[str, Any], tuple[str | None, ...], dict[str, str]]]:
        """Every distinct (fields, accounts, tags) of the costs table, tags limited to the keys scopes read."""
        keys = list(self.tag_keys)
        rows = self.store.fetch(
            """SELECT DISTINCT "ProviderName", "ServiceName", "ChargeCategory", "SubAccountId", "SubAccountName",
                      "BillingAccountId", [nullif("Tags"[k], '') FOR k IN ?::VARCHAR[]]
               FROM costs""",
            [keys],
        )
        return [
            ({"provider": provider, "service": service, "category": category}, (sub_id, sub_name, billing),
             {k: v for k, v in zip(keys, values, strict=True) if v is not None})
            for provider, service, category, sub_id, sub_name, billing, values in rows
        ]  # fmt: skip

    @cached_property
    def _labels(self) -> list[dict[str, str]]:
        keys = list(self.tag_keys)
        rows = self.store.fetch(
            "SELECT DISTINCT [nullif(labels[k], '') FOR k IN ?::VARCHAR[]] FROM gpu_samples", [keys]
        )
        return [{k: v for k, v in zip(keys, values, strict=True) if v is not None} for (values,) in rows]

    @cached_property
    def _processes(self) -> list[tuple[str | None, str | None]]:
        return [(ns, user) for ns, user in self.store.fetch("SELECT DISTINCT namespace, user_name FROM gpu_processes")]

    def known(self, key: str) -> frozenset[str]:
        """The values of one scope key in the store: provider, service, category, account, team, endpoint,
        team_tag_value (what allocation aliases map), namespace, tag_key, or tag:KEY (that tag's values)."""
        return self._known[key] if key in self._known else self._read(key)

    def _read(self, key: str) -> frozenset[str]:
        values: set[str | None] = set()
        if key in ("provider", "service", "category"):
            values = {fields[key] for fields, _, _ in self.cost_rows}
        elif key == "account":
            values = {a for _, accounts, _ in self.cost_rows for a in accounts}
        elif key == "team_or_tag":  # a rule's team: as the policy resolves it, or the raw tag value its SQL reads
            values = set(self.known("team") | self.known("team_tag_value"))
        elif key == "team":
            values = {self.policy.team_of(tags, accounts) for _, accounts, tags in self.cost_rows}
            values |= {self.policy.team_of(labels, ()) for labels in self._labels}
            values |= {process_team(self.policy, ns, user) for ns, user in self._processes}
        elif key in ("team_tag_value", "namespace"):
            tag_keys = self.policy.team_tags if key == "team_tag_value" else self.policy.namespace_tags
            values = {tags.get(k) for _, _, tags in self.cost_rows for k in tag_keys}
            values |= {labels.get(k) for labels in self._labels for k in tag_keys}
            values |= {ns for ns, _ in self._processes}
            if key == "team_tag_value":
                values |= {user for _, user in self._processes}
        elif key == "endpoint":
            values = {e for (e,) in self.store.fetch("SELECT DISTINCT endpoint FROM usage_metrics")}
        elif key == "tag_key":
            values = {k for (k,) in self.store.fetch('SELECT DISTINCT unnest(map_keys("Tags")) FROM costs')}
        elif key.startswith("tag:"):
            tag = key.removeprefix("tag:")
            values = {v for (v,) in self.store.fetch("SELECT DISTINCT nullif(\"Tags\"[?], '') FROM costs", [tag])}
        else:
            raise ValueError(f"no scope key {key!r}")
        self._known[key] = frozenset(v for v in values if v)
        return self._known[key]

    def require(self, where: str, key: str, wanted: Iterable[str], *, known: str | None = None,
                what: str | None = None, mapped: bool = False) -> None:  # fmt: skip
        """Raise a UsageError for the first of `wanted` that is not among the store's values of `known` (default:
        `key`). `where` prefixes the message (e.g. "finops.toml: budgets.research."); `mapped` says the values are
        the keys of a map (`[allocation.aliases]`), not a key's value."""
        values = self.known(known or key)
        for value in wanted:
            if value not in values:
                noun = what or (known or key).replace("_", " ")
                written = f"{key}: {value!r}" if mapped else f"{key} = {value!r}"
                raise UsageError(f"{where}{written} matches no {noun} in the store", hint=hint(value, values))

    def require_resources(self, where: str, key: str, wanted: Iterable[str], *, loose: bool = False) -> None:
        """Resources are too many to hold in memory: each is looked up. `loose` also accepts a resource's name, the
        last segment of its id (an instance id inside an ARN) and telemetry's instance ids and host names."""
        for value in wanted:
            exact = self.store.fetch('SELECT 1 FROM costs WHERE "ResourceId" = ? LIMIT 1', [value])
            if exact or (loose and self._loose_resource(value)):
                continue
            close = self.store.fetch(
                """SELECT r FROM (SELECT DISTINCT "ResourceId" AS r FROM costs WHERE "ResourceId" IS NOT NULL)
                   ORDER BY jaro_winkler_similarity(r, ?) DESC, r LIMIT 3""",
                [value],
            )
            shown = ", ".join(repr(r) for (r,) in close)
            closest = f"the closest resource ids: {shown}" if shown else "the store holds no resource ids"
            raise UsageError(f"{where}{key} = {value!r} matches no resource in the store", hint=closest)

    def _loose_resource(self, value: str) -> bool:
        return bool(
            self.store.fetch(
                """SELECT 1 FROM costs WHERE "ResourceName" = $v OR "ResourceId" LIKE '%/' || $v
                   UNION ALL SELECT 1 FROM gpu_samples WHERE instance_id = $v OR host = $v LIMIT 1""",
                {"v": value},
            )
        )


def check_rule_params(db: Path, rules: list[Rule], params: list[str], policy: AllocationPolicy) -> None:
    """`--param RULE.KEY=VALUE` where KEY is a `str` parameter naming a scope (team, endpoint, resource, provider,
    service, account, category; or ending in `_team`, ...): a value the store does not hold is a UsageError, since
    the trial run would find nothing and say so as if all were well. An empty value (a rule's "all") is not checked."""
    from finops.findings import parse_overrides

    by_id = {rule.id: rule for rule in rules}
    targets = []
    for rule_id, pairs in parse_overrides(params).items():
        kinds = {p.name: p.kind for p in by_id[rule_id].params} if rule_id in by_id else {}
        for key, value in pairs.items():
            scope = param_scope(key)
            if scope and value and kinds.get(key) == "str":
                targets.append((rule_id, key, value, scope))
    if not targets:
        return
    with open_store(db, read_only=True) as store:
        values = StoreValues(store, policy)
        for rule_id, key, value, scope in targets:
            where = f"--param {rule_id}."
            if not values.has(*PARAM_SCOPES[scope]):
                continue
            if scope == "resource":
                values.require_resources(where, key, [value], loose=True)
            else:
                known = "team_or_tag" if scope == "team" else scope
                values.require(where, key, [value], known=known,
                               what="account (id or name)" if scope == "account" else scope)  # fmt: skip


def param_scope(name: str) -> str | None:
    """The scope a rule parameter names by its name (`team`, `target_team`), if any."""
    return next((s for s in PARAM_SCOPES if name == s or name.endswith(f"_{s}")), None)


def hint(value: str, values: Iterable[str]) -> str:
    """did-you-mean over the store's values; past LISTED values, the closest few rather than every one."""
    valid = sorted(values)
    if not valid:
        return "the store holds none"
    if len(valid) <= LISTED:
        return did_you_mean(value, valid)
    close = difflib.get_close_matches(value, valid, n=5, cutoff=0.5)
    if close:
        return f"did you mean {close[0]!r}? Close: {', '.join(close)} ({len(valid)} values in the store)"
    return f"{len(valid)} values in the store, e.g. {', '.join(valid[:10])}"
