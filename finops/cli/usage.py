"""`finops usage ...`: inference counters (vLLM, Ray Serve vLLM, NIM, SGLang, TGI, Triton /metrics pages; CSV counts)
for cost per inference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from finops.cli.base import DbOption, _location, _State, app

usage_app = typer.Typer(help="Inference counters: scrape serving endpoints, load counts.", no_args_is_help=True)
app.add_typer(usage_app, name="usage")


@usage_app.command("scrape")
def usage_scrape(
    url: Annotated[str | None, typer.Argument(help="A /metrics URL. Default: every [[inference.targets]].")] = None,
    spool: Annotated[Path, typer.Option(help="Folder the pages are kept in until `finops usage ingest`.")] = Path(
        "finops-usage-spool"
    ),
    endpoint: Annotated[str | None, typer.Option(help="The endpoint name the URL serves (with a URL).")] = None,
    resource: Annotated[
        str | None, typer.Option(help="The instance (bill ResourceId or its last segment) that serves it.")
    ] = None,
) -> None:
    """Save one scrape of each inference server's /metrics page to the spool (run it from cron, e.g. every
    5 minutes). Counters are cumulative: `finops usage ingest SPOOL` turns consecutive scrapes into windows."""
    from finops.config import load_config
    from finops.errors import UsageError
    from finops.ui.console import err_console
    from finops.usage_ingest import Target, scrape

    if url:
        if not endpoint:
            raise UsageError("--endpoint is required with a URL", hint="the name reports show, e.g. chat-llama-70b")
        targets = [Target(endpoint, url, resource)]
    else:
        targets = list(load_config(_State.config).inference_targets)
        if not targets:
            raise UsageError("nothing to scrape", hint="give a URL and --endpoint, or add [[inference.targets]]")
    for target in targets:
        path = scrape(target, spool)
        err_console().print(f"{target.endpoint}: saved {path}", highlight=False)


@usage_app.command("ingest")
def usage_ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Spool folders, saved /metrics pages (.prom, .txt) or CSV counts.")
    ] = None,
    db: DbOption = None,
    endpoint: Annotated[str | None, typer.Option(help="Endpoint of pages saved without a finops header.")] = None,
    resource: Annotated[str | None, typer.Option(help="Instance serving pages saved without a header.")] = None,
    force: Annotated[bool, typer.Option(help="Load even if the same inputs were already loaded.")] = False,
    prometheus: Annotated[
        str | None, typer.Option(help="A Prometheus server that scrapes the inference servers (HTTP API).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="With --prometheus: start (YYYY-MM-DDTHH:MM, UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="With --prometheus: end (default now).")] = None,
    step: Annotated[int, typer.Option(help="With --prometheus: seconds between points (a window each).", min=1)] = 300,
) -> None:
    """Load inference counters into the store: windows between consecutive scrapes (a restarted server's reset
    counters are understood), or a CSV of counts with columns ts, endpoint, requests and optionally interval_s,
    requests_failed, input_tokens, output_tokens, resource_id, model, latency_p95_s.

    With --prometheus, the same counters are read over time from a Prometheus server instead (one query_range;
    each step is a window). Each (source, day) covered replaces what the store held for it: re-ingesting a
    growing spool never duplicates.
    """
    from finops.errors import UsageError
    from finops.gpu_ingest import prometheus_range
    from finops.ui.summary import print_load_result
    from finops.usage_ingest import ingest_usage, prometheus_scrapes

    scrapes = None
    if prometheus:
        window = prometheus_range(prometheus, since, until, step)
        scrapes = prometheus_scrapes(prometheus, window.start, window.end, window.step_s, endpoint=endpoint,
                                     resource=resource)  # fmt: skip
    elif not paths:
        raise UsageError("nothing to load", hint="give spool folders, /metrics pages or CSV files, or --prometheus")
    location = _location(db)
    result = ingest_usage(location.path, paths or [], endpoint=endpoint, resource=resource, force=force,
                          prometheus=scrapes)  # fmt: skip
    print_load_result(result, location.path)
