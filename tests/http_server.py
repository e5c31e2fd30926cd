"""A real HTTP server on a free local port, for tests of what finops sends and scrapes."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on 127.0.0.1 in a thread; yield its base URL; stop afterwards."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextmanager
def serve_tls(handler: type[http.server.BaseHTTPRequestHandler], ca_file: str) -> Iterator[str]:
    """The same over HTTPS, with a certificate for 127.0.0.1 from a throwaway CA (written to `ca_file` for the
    client to trust): SDKs that send bearer tokens only over TLS (Azure's) talk to it as to the real service."""
    import ssl

    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(ca_file)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def send_json(handler: http.server.BaseHTTPRequestHandler, status: int, document: object,
              headers: dict[str, str] | None = None) -> None:  # fmt: skip
    """Answer with a JSON body (a str is sent as written, to keep exact number text) and its length."""
    import json

    data = (document if isinstance(document, str) else json.dumps(document)).encode()
    handler.send_response(status)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


@contextmanager
def serve_prometheus(matrix: Callable[[dict[str, list[str]]], list[dict[str, Any]]]) -> Iterator[str]:
    """A Prometheus server's HTTP API: every `query_range` answered with `matrix(query parameters)` (the series, as
    `{"metric": labels, "values": [[t, "v"], ...]}`); anything else is a 404."""
    from urllib.parse import parse_qs, urlparse

    class Prometheus(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path != "/api/v1/query_range":
                send_json(self, 404, {"status": "error", "error": f"no {url.path}"})
                return
            result = matrix(parse_qs(url.query))
            send_json(self, 200, {"status": "success", "data": {"resultType": "matrix", "result": result}})

        def log_message(self, *args: object) -> None:
            pass

    with serve(Prometheus) as url:
        yield url


@contextmanager
def serve_pages(pages: list[str], served: list[str]) -> Iterator[str]:
    """A /metrics endpoint that answers each GET with the next of `pages` (a server's counters over time) and
    records the path asked for in `served`."""

    class Pages(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages[len(served)].encode()
            served.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with serve(Pages) as url:
        yield url
