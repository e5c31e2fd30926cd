"""Azurite, Microsoft's Blob Storage emulator, as a real process (from npm; `.ci/run` installs it into build/node):
the Azure SDK talks to it over HTTP exactly as to a storage account."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
ACCOUNT = "devstoreaccount1"
# Azurite's documented, public development key (not a secret: every Azurite install has it).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _executable() -> str | None:
    local = ROOT / "build" / "node" / "node_modules" / ".bin" / "azurite-blob"
    return str(local) if local.exists() else shutil.which("azurite-blob")


@contextmanager
def azurite(folder: Path) -> Iterator[str]:
    """Start azurite-blob on a free port; yield a connection string for it."""
    executable = _executable()
    if executable is None:
        if os.environ.get("FINOPS_REQUIRE_AZURITE") == "1":
            pytest.fail("Azurite is required here: npm install --prefix build/node azurite")
        pytest.skip("no Azurite (npm install --prefix build/node azurite)")
    process = subprocess.Popen(
        [executable, "--location", str(folder), "--blobHost", "127.0.0.1", "--blobPort", "0", "--skipApiVersionCheck",
         "--disableTelemetry", "--silent"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        port = None
        for line in process.stdout:
            found = re.search(r"listens on http://127\.0\.0\.1:(\d+)", line)
            if found:
                port = found[1]
                break
        if port is None:
            raise RuntimeError("Azurite did not start")
        yield (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
               f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};")  # fmt: skip
    finally:
        process.terminate()
        process.wait(timeout=10)
