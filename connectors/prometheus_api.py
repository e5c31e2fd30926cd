"""The Prometheus HTTP API (v1): one `query_range`, as (labels, [(time, value)]) per series."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from datetime import UTC, datetime

from finops.errors import SourceError

Series = tuple[dict[str, str], list[tuple[datetime, float]]]


def query_range(base_url: str, query: str, start: datetime, end: datetime, step_s: int) -> list[Series]:
    params = urllib.parse.urlencode(
        {"query": query, "start": start.timestamp(), "end": end.timestamp(), "step": f"{step_s}s"}
    )
    url = f"{base_url.rstrip('/')}/api/v1/query_range?{params}"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            answer = json.loads(response.read())
    except (OSError, ValueError) as e:
        raise SourceError(f"{base_url}: query_range {query} failed: {e}", hint="is the Prometheus URL right?") from e
    if answer.get("status") != "success":
        raise SourceError(f"{base_url}: query_range {query}: {answer.get('error', answer.get('status'))}")
    return [
        (series.get("metric", {}), [(datetime.fromtimestamp(float(t), UTC), float(v)) for t, v in series["values"]])
        for series in answer["data"]["result"]
    ]
