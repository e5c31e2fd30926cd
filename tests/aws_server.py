"""A moto server as a real process on a free local port: boto3 talks HTTP to it exactly as to AWS."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server(extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Start `moto_server` and yield its endpoint URL; stop it afterwards."""
    port = _free_port()
    executable = Path(sys.executable).parent / "moto_server"
    env = {**os.environ, **(extra_env or {})}
    process = subprocess.Popen(
        [str(executable), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def point_boto3_at(monkeypatch: object, url: str, key: str = "testing", secret: str = "testing") -> None:
    """Every boto3 client made from now on in this test (finops' included) talks to `url` with these keys."""
    for name, value in {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)  # type: ignore[attr-defined]
    monkeypatch.delenv("AWS_PROFILE", raising=False)  # type: ignore[attr-defined]
