"""Tag keys as every cloud writes them, reduced to one spelling.

`Team`, `team`, `user:team` and `resourceTags/user:team` are the same tag to a person reading a report, and
must be one key to a query. Values are kept as written (only trimmed): they are user data.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

# Prefixes providers put in front of user tags (AWS CUR and FOCUS exports, Azure, GCP labels).
_PREFIXES = ("resourcetags/", "resource_tags/", "user:", "tags/", "tag:", "labels/", "label:")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\s\-]+")


@lru_cache(maxsize=65536)
def normalize_key(key: str) -> str:
    """`CostCenter`, `cost-center` and `user:cost_center` all become `cost_center`."""
    text = key.strip()
    stripped = True
    while stripped:
        stripped = False
        for prefix in _PREFIXES:
            if text.lower().startswith(prefix):
                text = text[len(prefix) :]
                stripped = True
    text = _CAMEL.sub("_", text).lower()
    text = _SEPARATORS.sub("_", text)
    return re.sub("_+", "_", text).strip("_")


def parse_tags(text: str | None) -> list[tuple[str, str]]:
    """Parse a tag cell into normalised (key, value) pairs; the first of two keys that normalise alike wins.

    Accepts a JSON object (FOCUS) and Azure's export form without braces (`"a": "b","c": "d"`).
    Raises ValueError for anything else, so a bad cell is reported rather than silently dropped.
    """
    if text is None:
        return []
    body = text.strip()
    if body in ("", "{}", "null", "NULL"):
        return []
    if not body.startswith("{"):
        body = "{" + body + "}"
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError as e:
        raise ValueError(f"tags are not a JSON object: {e.msg}") from e
    if not isinstance(parsed, dict):
        raise ValueError("tags are not a JSON object")
    seen: dict[str, str] = {}
    for raw_key, raw_value in parsed.items():
        key = normalize_key(str(raw_key))
        if not key or key in seen:
            continue
        if raw_value is None:
            value = ""
        elif isinstance(raw_value, str):
            value = raw_value.strip()
        else:
            value = json.dumps(raw_value)
        seen[key] = value
    return list(seen.items())
