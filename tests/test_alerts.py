"""`finops alerts` against a real local HTTP server: delivered once, signed, not again, and kept on failure."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import shutil
import socket
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
    port = receiver.url.rsplit(":", 1)[1]
    assert f"alert sink ops (127.0.0.1:{port}): delivery failed after 3 tries: HTTP 500" in result.err
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
    import email

    text = email.message_from_string(content).get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "($11,798.40)" in text and "($1,263.46)" in text


@pytest.fixture
def healthy() -> Iterator[Receiver]:
    """A second, separate endpoint: the sink that keeps working while the other fails."""
    r = Receiver()
    with serve(r.handler) as url:
        r.url = url
        yield r


def sent_texts(receiver: Receiver) -> list[str]:
    return [json.loads(body)["text"] for _, _, body in receiver.requests]


def test_a_healthy_sink_gets_each_finding_once_while_another_fails_and_the_failed_one_catches_up(
    receiver: Receiver, healthy: Receiver, store_with_findings: Path, tmp_path: Path, cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    receiver.status = 500  # ops is down; chat (a separate server) is fine
    monkeypatch.setenv("TEST_OPS_URL", f"{receiver.url}/ops")
    monkeypatch.setenv("TEST_OPS_SECRET", "shh")
    monkeypatch.setenv("TEST_SLACK_URL", f"{healthy.url}/services/T000/B000/XXXX")
    run = ("--config", config(tmp_path), "alerts", "--db", store_with_findings)
    first = cli(*run)
    assert first.code == 3 and "alert sink ops" in first.err and "2 finding(s) sent to chat" in first.err
    assert len(receiver.requests) == 3 and len(healthy.requests) == 1
    second = cli(*run)  # ops still down: chat is not sent the same findings again
    assert second.code == 3 and "sent to chat" not in second.err
    assert len(receiver.requests) == 6 and len(healthy.requests) == 1
    with duckdb.connect(str(store_with_findings), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM findings WHERE notified_at IS NOT NULL").fetchall() == [(0,)]
        assert con.execute("SELECT sink, count(*) FROM alert_deliveries GROUP BY sink").fetchall() == [("chat", 2)]
    receiver.status = 200  # ops recovers: it gets what it missed, once; chat gets nothing
    third = cli(*run)
    assert third.code == 0, third.err and "2 finding(s) sent to 2 sink(s)" in third.err
    assert len(receiver.requests) == 7 and len(healthy.requests) == 1
    assert len(json.loads(receiver.requests[-1][2])["findings"]) == 2
    assert cli(*run).code == 0 and len(receiver.requests) == 7 and len(healthy.requests) == 1
    with duckdb.connect(str(store_with_findings), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM findings WHERE notified_at IS NOT NULL").fetchall() == [(2,)]


def test_money_in_alerts_is_shown_as_the_report_shows_it(
    receiver: Receiver, store_with_findings: Path, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_OPS_URL", f"{receiver.url}/ops")
    monkeypatch.setenv("TEST_OPS_SECRET", "shh")
    monkeypatch.setenv("TEST_SLACK_URL", f"{receiver.url}/services/T000/B000/XXXX")
    assert cli("--config", config(tmp_path), "alerts", "--db", store_with_findings).code == 0
    (_, _, ops_body), (_, _, chat_body) = receiver.requests
    # The two planted findings of the demo (tests/test_rules.py): the p5 sweep and its data transfer, in USD.
    assert [f["amount"] for f in json.loads(ops_body)["findings"]] == ["11798.40", "1263.46"]
    text = json.loads(chat_body)["text"]
    assert "($11,798.40)" in text and "($1,263.46)" in text
    assert "000000000" not in text and "000000000" not in ops_body.decode()


def test_a_sink_with_an_unset_variable_is_a_config_error_and_nothing_is_sent(
    receiver: Receiver, store_with_findings: Path, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_OPS_URL", raising=False)
    monkeypatch.setenv("TEST_OPS_SECRET", "shh")
    monkeypatch.setenv("TEST_SLACK_URL", f"{receiver.url}/services/T000/B000/XXXX")
    result = cli("--config", config(tmp_path), "alerts", "--db", store_with_findings)
    assert result.code == 2 and "alert sink ops: $TEST_OPS_URL is not set" in result.err
    assert receiver.requests == []  # not even to the sink that is configured
    monkeypatch.setenv("TEST_OPS_URL", "hooks.example/no-scheme-s3cr3t")
    result = cli("--config", config(tmp_path), "alerts", "--db", store_with_findings)
    assert result.code == 2 and "alert sink ops: $TEST_OPS_URL is not an http(s) URL" in result.err
    assert "s3cr3t" not in result.err and receiver.requests == []


def free_port() -> int:
    """A port nothing listens on: bound, then closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_sink(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "finops.toml"
    path.write_text(
        f'[alerts]\nmin_severity = "high"\n\n[alerts.sinks.hook]\ntype = "webhook"\nurl_env = "TEST_URL"\n{extra}'
    )
    return path


def test_a_sink_on_a_closed_port_says_connection_refused_and_the_host(
    store_with_findings: Path, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("TEST_URL", f"http://127.0.0.1:{port}/hooks/s3cr3t-token?key=abc")
    result = cli("--config", one_sink(tmp_path), "alerts", "--db", store_with_findings)
    assert result.code == 3
    assert f"alert sink hook (127.0.0.1:{port}): delivery failed after 3 tries: connection refused" in result.err
    assert "s3cr3t" not in result.err and "key=abc" not in result.err and "URLError" not in result.err


def test_a_sink_that_never_answers_times_out(
    store_with_findings: Path, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as silent:  # listens (the kernel completes the handshake) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        monkeypatch.setenv("TEST_URL", f"http://127.0.0.1:{port}/hook")
        result = cli("--config", one_sink(tmp_path, "timeout_s = 0.2\n"), "alerts", "--db", store_with_findings)
    assert result.code == 3
    assert f"alert sink hook (127.0.0.1:{port}): delivery failed after 3 tries: timed out after 0.2 s" in result.err


def test_a_sink_whose_host_does_not_resolve_says_dns(
    store_with_findings: Path, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_URL", "https://finops-alerts.invalid/hooks/s3cr3t")  # .invalid never resolves (RFC 2606)
    result = cli("--config", one_sink(tmp_path), "alerts", "--db", store_with_findings)
    assert result.code == 3 and "alert sink hook (finops-alerts.invalid): " in result.err
    assert "DNS lookup failed" in result.err and "s3cr3t" not in result.err


def test_a_sink_with_an_untrusted_certificate_says_tls(
    receiver: Receiver, store_with_findings: Path, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from http_server import serve_tls

    with serve_tls(receiver.handler, str(tmp_path / "ca.pem")) as url:  # its CA is not one the client trusts
        monkeypatch.setenv("TEST_URL", f"{url}/hooks/s3cr3t")
        result = cli("--config", one_sink(tmp_path), "alerts", "--db", store_with_findings)
    assert result.code == 3 and "TLS certificate not accepted: unable to get local issuer certificate" in result.err
    assert f"({url.removeprefix('https://')})" in result.err and "s3cr3t" not in result.err
    assert receiver.requests == []


def test_a_version_6_store_migrates_keeping_findings_and_what_was_sent(
    receiver: Receiver, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from finops.migrations import MIGRATIONS

    db = tmp_path / "v6.duckdb"
    with duckdb.connect(str(db)) as con:  # a store as finops wrote it at schema version 6: one finding sent, one not
        for version in range(1, 7):
            for statement in MIGRATIONS[version]:
                con.execute(statement)
        con.execute("INSERT INTO finops_meta VALUES ('schema_version', '6')")
        for fingerprint, notified in (("sent-before", "now()"), ("never-sent", "NULL")):
            con.execute(
                f"""INSERT INTO findings VALUES (?, 'ANO001', 'high', ?, 1234.5, 'USD', DATE '2026-11-01',
                        DATE '2026-12-01', 'a spike', '{{}}', now(), now(), 1, {notified})""",
                [fingerprint, fingerprint],
            )
    monkeypatch.setenv("TEST_URL", f"{receiver.url}/hook")
    result = cli("--config", one_sink(tmp_path), "alerts", "--db", db)
    assert result.code == 0, result.err
    [(_, _, body)] = receiver.requests  # the finding sent at version 6 is not sent again
    assert [(f["subject"], f["amount"]) for f in json.loads(body)["findings"]] == [("never-sent", "1234.50")]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT value FROM finops_meta WHERE key = 'schema_version'").fetchall() == [("7",)]
        assert con.execute("SELECT fingerprint FROM findings ORDER BY 1").fetchall() == [
            ("never-sent",),
            ("sent-before",),
        ]
        assert con.execute("SELECT fingerprint, sink FROM alert_deliveries ORDER BY 1").fetchall() == [
            ("never-sent", "hook"), ("sent-before", "*")
        ]  # fmt: skip


def test_a_finding_still_there_goes_to_each_sink_again_after_renotify_hours(
    receiver: Receiver, store_with_findings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from finops.alerts import AlertsConfig, Sink, send_alerts

    monkeypatch.setenv("TEST_URL", f"{receiver.url}/hook")
    settings = AlertsConfig("high", 24.0, (Sink("hook", "webhook", "TEST_URL"),))
    start = datetime.now(UTC)
    assert send_alerts(store_with_findings, settings, now=start).sent == 2
    assert send_alerts(store_with_findings, settings, now=start + timedelta(hours=23)).sent == 0
    with duckdb.connect(str(store_with_findings)) as con:  # the rules ran again: the findings are still there
        con.execute("UPDATE findings SET last_seen = ?", [start + timedelta(hours=25)])
    assert send_alerts(store_with_findings, settings, now=start + timedelta(hours=25)).sent == 2
    first, again = (json.loads(body)["findings"] for _, _, body in receiver.requests)
    assert [f["repeat"] for f in first] == [False, False] and [f["repeat"] for f in again] == [True, True]
    with duckdb.connect(str(store_with_findings), read_only=True) as con:
        assert con.execute("SELECT DISTINCT delivered_at FROM alert_deliveries").fetchall() == [
            (start + timedelta(hours=25),)
        ]
