"""`finops alerts` against a real local HTTP server: delivered once, signed, not again, and kept on failure."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from http_server import serve


class Receiver:
    """A local webhook endpoint that records what it is sent and answers `status`."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200
        self.url = ""
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.path, dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.handler = Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    with serve(r.handler) as url:
        r.url = url
        yield r


@pytest.fixture
def store_with_findings(demo_db: Path, tmp_path: Path, cli) -> Path:
    db = tmp_path / "store.duckdb"
    shutil.copy(demo_db, db)
    with duckdb.connect(str(db)) as con:  # other tests run rules on the shared demo store: start from none
        con.execute("DELETE FROM findings")
    assert cli("rules", "run", "ANO001", "--db", db, "--period", "2026-11").code == 0
    return db


def config(tmp_path: Path) -> Path:
    path = tmp_path / "finops.toml"
    path.write_text(
        '[alerts]\nmin_severity = "high"\n\n'
        '[alerts.sinks.ops]\ntype = "webhook"\nurl_env = "TEST_OPS_URL"\nsecret_env = "TEST_OPS_SECRET"\n\n'
        '[alerts.sinks.chat]\ntype = "slack"\nurl_env = "TEST_SLACK_URL"\n'
    )
    return path


def test_findings_are_delivered_once_and_signed(
    receiver: Receiver, store_with_findings: Path, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_OPS_URL", f"{receiver.url}/ops/s3cr3t-token")
    monkeypatch.setenv("TEST_OPS_SECRET", "shh")
    monkeypatch.setenv("TEST_SLACK_URL", f"{receiver.url}/services/T000/B000/XXXX")
    first = cli("--config", config(tmp_path), "alerts", "--db", store_with_findings)
    assert first.code == 0, first.err
    assert "2 finding(s) sent to 2 sink(s)" in first.err
    (ops_path, ops_headers, ops_body), (chat_path, _, chat_body) = receiver.requests
    assert ops_path == "/ops/s3cr3t-token" and chat_path.startswith("/services/")
    expected = "sha256=" + hmac.new(b"shh", ops_body, hashlib.sha256).hexdigest()
    assert ops_headers["X-Finops-Signature"] == expected
    document = json.loads(ops_body)
    assert [f["evidence"]["first_day"] for f in document["findings"]] == ["2026-11-12", "2026-11-12"]
    assert "Amazon Elastic Compute Cloud / research" in json.loads(chat_body)["text"]

    again = cli("--config", config(tmp_path), "alerts", "--db", store_with_findings)
    assert again.code == 0 and "0 finding(s) sent" in again.err
    assert len(receiver.requests) == 2  # nothing sent twice


def test_a_failed_delivery_exits_3_keeps_findings_pending_and_hides_the_url(
    receiver: Receiver, store_with_findings: Path, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.status = 500
    monkeypatch.setenv("TEST_OPS_URL", f"{receiver.url}/ops/s3cr3t-token")
    monkeypatch.setenv("TEST_OPS_SECRET", "shh")
    monkeypatch.setenv("TEST_SLACK_URL", f"{receiver.url}/services/T000/B000/XXXX")
    result = cli("--config", config(tmp_path), "alerts", "--db", store_with_findings)
    assert result.code == 3
    assert "alert sink ops (127.0.0.1): delivery failed after 3 tries: HTTP 500" in result.err
    assert "s3cr3t" not in result.err and "XXXX" not in result.err and "shh" not in result.err
    assert len(receiver.requests) == 6  # 3 tries for each of the 2 sinks
    with duckdb.connect(str(store_with_findings), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM findings WHERE notified_at IS NOT NULL").fetchall() == [(0,)]
    receiver.status = 200  # the next run delivers them
    assert cli("--config", config(tmp_path), "alerts", "--db", store_with_findings).code == 0


def test_alert_config_errors(cli, tmp_path: Path) -> None:
    path = tmp_path / "finops.toml"
    path.write_text('[alerts.sinks.x]\ntype = "webhook"\nurl = "https://hooks.example/abc"\n')
    result = cli("--config", path, "alerts")
    assert result.code == 2 and "unknown key alerts.sinks.x.url" in result.err and "url_env" in result.err


def test_email_goes_through_a_real_smtp_server(store_with_findings: Path, tmp_path: Path, cli) -> None:
    import socket

    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[tuple[str, list[str], str]] = []

        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content.decode()))  # type: ignore[attr-defined]
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        path = tmp_path / "finops.toml"
        path.write_text(
            '[alerts]\nmin_severity = "high"\n\n[alerts.sinks.mail]\ntype = "email"\nsmtp_host = "127.0.0.1"\n'
            f'smtp_port = {port}\nfrom = "finops@example.com"\nto = ["finops-team@example.com"]\n'
        )
        result = cli("--config", path, "alerts", "--db", store_with_findings)
        assert result.code == 0, result.err
        assert "2 finding(s) sent to 1 sink(s)" in result.err
    finally:
        controller.stop()
    [(sender, recipients, content)] = inbox.messages
    assert sender == "finops@example.com" and recipients == ["finops-team@example.com"]
    assert "Subject: finops: 2 finding(s)" in content and "Amazon Elastic Compute Cloud / research" in content
