"""The allocation policy: how a cost finds its team, and how shared costs are split (`[allocation]` in finops.toml).

```toml
[allocation]
basis = "chargeback"                  # or "showback"
team_tags = ["team", "cost_center", "owner"]   # precedence, after tag-key normalisation

[allocation.aliases]                  # a tag value that names a team some other way
cc-data = "data"

[allocation.accounts]                 # account / project / subscription, by id or name
"048213570926" = "data"

[allocation.namespaces]               # Kubernetes namespace (tag keys in namespace_tags) -> team
ml-serving = "inference"

[[allocation.shared]]                 # a pool of cost nobody owns alone
name = "networking"
services = ["AWS Data Transfer", "Bandwidth"]
split = "spend"                       # even | spend | weights | gpu-hours | gpu-sm
```

Everything is checked when the file is read: an error names the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finops.errors import UsageError, did_you_mean
from finops.tags import normalize_key

if TYPE_CHECKING:
    from finops.scopes import StoreValues

BASES = ("chargeback", "showback")
SPLITS = ("even", "spend", "weights", "gpu-hours", "gpu-sm")
UNALLOCATED = "(unallocated)"
DEFAULT_TEAM_TAGS = ("team", "owner", "cost_center")
DEFAULT_NAMESPACE_TAGS = ("namespace", "k8s_namespace", "kubernetes_namespace")
CHARGES_POOL = "credits, tax and fees"  # chargeback only: non-usage charges no team owns, split by spend


@dataclass(frozen=True)
class SharedPool:
    name: str
    split: str = "spend"
    services: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)  # normalised key -> value; all must match
    weights: dict[str, float] = field(default_factory=dict)
    teams: tuple[str, ...] = ()  # who shares it; default every team with direct cost in the period

    def matches(self, service: str | None, accounts: tuple[str | None, ...], category: str | None,
                resource: str | None, tags: dict[str, str]) -> bool:  # fmt: skip
        """Every criterion given must hold (criteria left out match anything); a pool with none matches nothing."""
        if not (self.services or self.accounts or self.categories or self.resources or self.tags):
            return False
        return (
            (not self.services or service in self.services)
            and (not self.accounts or any(a in self.accounts for a in accounts if a))
            and (not self.categories or (category or "") in self.categories)
            and (not self.resources or (resource or "") in self.resources)
            and all(tags.get(k) == v for k, v in self.tags.items())
        )


@dataclass(frozen=True)
class AllocationPolicy:
    basis: str = "chargeback"
    team_tags: tuple[str, ...] = DEFAULT_TEAM_TAGS
    namespace_tags: tuple[str, ...] = DEFAULT_NAMESPACE_TAGS
    aliases: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)
    namespaces: dict[str, str] = field(default_factory=dict)
    shared: tuple[SharedPool, ...] = ()
    origin: str = "default"  # where the policy came from, for the report

    def tag_keys(self) -> tuple[str, ...]:
        """Every tag key the policy reads, in a fixed order (team keys, namespace keys, then pool keys)."""
        keys = [*self.team_tags, *self.namespace_tags]
        for pool in self.shared:
            keys.extend(k for k in pool.tags if k not in keys)
        return tuple(dict.fromkeys(keys))

    def team_of(self, tags: dict[str, str], accounts: tuple[str | None, ...]) -> str | None:
        """Tags in precedence order (aliases applied), then the Kubernetes namespace, then the account."""
        for key in self.team_tags:
            value = tags.get(key)
            if value:
                return self.aliases.get(value, value)
        for key in self.namespace_tags:
            value = tags.get(key)
            if value and value in self.namespaces:
                return self.namespaces[value]
        for account in accounts:
            if account and account in self.accounts:
                return self.accounts[account]
        return None


def parse_policy(raw: Any, path: Path | str) -> AllocationPolicy:
    if raw is None:
        return AllocationPolicy()
    where = f"{path}: allocation."
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: allocation must be a table ([allocation])")
    known = {"basis", "team_tags", "namespace_tags", "aliases", "accounts", "namespaces", "shared"}
    _only(raw, known, where)
    basis = raw.get("basis", "chargeback")
    if basis not in BASES:
        raise UsageError(f"{where}basis = {basis!r} is unknown", hint=did_you_mean(str(basis), BASES))
    pools = raw.get("shared", [])
    if not isinstance(pools, list):
        raise UsageError(f"{where}shared must be an array of tables ([[allocation.shared]])")
    parsed = tuple(_pool(pool, f"{where}shared[{i}].") for i, pool in enumerate(pools))
    names = [p.name for p in parsed]
    if len(set(names)) != len(names) or CHARGES_POOL in names:
        raise UsageError(f"{where}shared: pool names must be unique (and not {CHARGES_POOL!r})")
    return AllocationPolicy(
        basis=basis,
        team_tags=_keys(raw, "team_tags", where, DEFAULT_TEAM_TAGS),
        namespace_tags=_keys(raw, "namespace_tags", where, DEFAULT_NAMESPACE_TAGS),
        aliases=_mapping(raw, "aliases", where),
        accounts=_mapping(raw, "accounts", where),
        namespaces=_mapping(raw, "namespaces", where),
        shared=parsed,
        origin=str(path),
    )


def check_scopes(policy: AllocationPolicy, values: StoreValues) -> None:
    """A UsageError for the first name in the policy that matches nothing in the store: a tag value in aliases, a
    namespace, an account, or a shared pool's service, account, category, resource, tag or team. A typo there
    moves cost in silence (a pool that catches nothing, an alias never applied). Tables with no rows check nothing.
    The teams a map points to are the policy's own names, not the store's, and are not checked."""
    from finops.scopes import TEAM_TABLES

    if policy.origin == "default":
        return
    where = f"{policy.origin}: allocation."
    teams, costs = values.has(*TEAM_TABLES), values.has("costs")
    if teams:
        values.require(where, "aliases", policy.aliases, known="team_tag_value", mapped=True,
                       what=f"value of the team tags ({', '.join(policy.team_tags)})")  # fmt: skip
        values.require(where, "namespaces", policy.namespaces, known="namespace", mapped=True,
                       what=f"namespace (tags {', '.join(policy.namespace_tags)}, or a GPU process's)")  # fmt: skip
    if costs:
        values.require(where, "accounts", policy.accounts, known="account", mapped=True, what="account (id or name)")
    for i, pool in enumerate(policy.shared):
        at = f"{where}shared[{i}] ({pool.name})."
        if costs:
            values.require(at, "services", pool.services, known="service", what="service")
            values.require(at, "accounts", pool.accounts, known="account", what="account (id or name)")
            values.require(at, "categories", pool.categories, known="category", what="charge category")
            values.require_resources(at, "resources", pool.resources)
            for key, value in pool.tags.items():
                values.require(at, "tags", [key], known="tag_key", what="tag key", mapped=True)
                values.require(at, f"tags.{key}", [value], known=f"tag:{key}", what=f"value of tag {key!r}")
        if teams:
            values.require(at, "teams", pool.teams, known="team", what="team")
            values.require(at, "weights", pool.weights, known="team", what="team", mapped=True)


def _pool(raw: Any, where: str) -> SharedPool:
    if not isinstance(raw, dict):
        raise UsageError(f"{where[:-1]} must be a table")
    _only(raw, {"name", "split", "services", "accounts", "categories", "resources", "tags", "weights", "teams"}, where)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise UsageError(f"{where}name is missing", hint='every shared pool needs a name, e.g. name = "networking"')
    split = raw.get("split", "spend")
    if split not in SPLITS:
        raise UsageError(f"{where}split = {split!r} is unknown", hint=did_you_mean(str(split), SPLITS))
    weights = raw.get("weights", {})
    if not isinstance(weights, dict) or not all(
        isinstance(w, int | float) and not isinstance(w, bool) and w >= 0 for w in weights.values()
    ):
        raise UsageError(f"{where}weights must map teams to numbers >= 0", hint="weights = { research = 3, data = 1 }")
    if split == "weights" and not any(weights.values()):
        raise UsageError(f"{where}split = 'weights' needs weights", hint="weights = { research = 3, data = 1 }")
    tags = _mapping(raw, "tags", where)
    pool = SharedPool(
        name=name,
        split=split,
        services=_strings(raw, "services", where),
        accounts=_strings(raw, "accounts", where),
        categories=_strings(raw, "categories", where),
        resources=_strings(raw, "resources", where),
        tags={normalize_key(k): v for k, v in tags.items()},
        weights={str(k): float(v) for k, v in weights.items()},
        teams=_strings(raw, "teams", where),
    )
    if not (pool.services or pool.accounts or pool.categories or pool.resources or pool.tags):
        raise UsageError(f"{where[:-1]} ({name}) matches nothing",
                         hint="give at least one of services, accounts, categories, resources, tags")  # fmt: skip
    return pool


def _only(table: dict[str, Any], allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            path, _, prefix = where.rpartition(": ")
            raise UsageError(f"{path}: unknown key {prefix}{key}", hint=did_you_mean(key, sorted(allowed)))


def _strings(raw: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}{key} must be a list of strings")
    return tuple(value)


def _keys(raw: dict[str, Any], key: str, where: str, default: tuple[str, ...]) -> tuple[str, ...]:
    if key not in raw:
        return default
    return tuple(dict.fromkeys(normalize_key(k) for k in _strings(raw, key, where)))


def _mapping(raw: dict[str, Any], key: str, where: str) -> dict[str, str]:
    value = raw.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) and v for v in value.values()):
        raise UsageError(f"{where}{key} must map names to team names (strings)", hint=f"[{where.split(': ')[-1]}{key}]")
    return {str(k): v for k, v in value.items()}
