"""`finops alerts`: send findings that are new (or due again) to the sinks in finops.toml, once.

    [alerts]
    min_severity = "medium"
    renotify_hours = 24                 # a finding still there is sent again after this long

    [alerts.sinks.team-slack]
    type = "slack"                      # slack, webhook or stdout
    url_env = "FINOPS_SLACK_WEBHOOK"    # webhook URLs are secrets: they come from the environment

    [alerts.sinks.ops]
    type = "webhook"                    # JSON body; X-Finops-Signature: sha256=HMAC(body) when secret_env is set
    url_env = "FINOPS_OPS_WEBHOOK"
    secret_env = "FINOPS_OPS_SECRET"

Delivery is kept per (finding, sink): a sink that took a finding is not sent it again (until renotify_hours), and a
sink that failed (retried, reported, exit 3) gets what it missed on the next run, while the others are not sent it
twice. A sink whose variables are unset is a configuration error (exit 2) and nothing is sent. URLs and secrets are
never printed: errors name the sink, the host and what went wrong (refused, timed out, DNS, TLS, HTTP status).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from finops.errors import FinopsError, SourceError, UsageError, did_you_mean
from finops.money import exact_text, format_money
from finops.rules_engine import SEVERITIES
from finops.store import open_store

SINK_TYPES = ("slack", "webhook", "email", "stdout")
SINK_KEYS = {
    "slack": ("url_env", "timeout_s"),
    "webhook": ("url_env", "secret_env", "timeout_s"),
    "email": ("smtp_host", "smtp_port", "from", "to", "starttls", "user_env", "password_env", "timeout_s"),
    "stdout": (),
}
RETRIES = 3
TIMEOUT_S = 10.0
ALL_SINKS = "*"  # alert_deliveries rows carried over from schema 6, when a finding was sent to every sink at once


@dataclass(frozen=True)
class Sink:
    name: str
    type: str
    url_env: str | None = None
    secret_env: str | None = None
    email: dict[str, Any] = field(default_factory=dict)  # smtp_host, smtp_port, from, to, starttls, *_env
    timeout_s: float = TIMEOUT_S


@dataclass(frozen=True)
class AlertsConfig:
    min_severity: str = "medium"
    renotify_hours: float = 24.0
    sinks: tuple[Sink, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class AlertsResult:
    sent: int  # findings that reached at least one sink
    failures: tuple[str, ...]
    delivered: tuple[tuple[str, int], ...] = ()  # (sink, findings it took), for each sink that had some due


def alerts_config(table: dict[str, Any], origin: str) -> AlertsConfig:
    """The [alerts] table of finops.toml, checked key by key."""
    for key in table:
        if key not in ("min_severity", "renotify_hours", "sinks"):
            raise UsageError(f"{origin}: unknown key alerts.{key}")
    severity = table.get("min_severity", "medium")
    if severity not in SEVERITIES:
        raise UsageError(f"{origin}: alerts.min_severity {severity!r}", hint=did_you_mean(str(severity), SEVERITIES))
    sinks = []
    for name, spec in table.get("sinks", {}).items():
        if name == ALL_SINKS:
            raise UsageError(f'{origin}: alerts.sinks."{ALL_SINKS}"', hint="name the sink, e.g. alerts.sinks.ops")
        kind = spec.get("type")
        if kind not in SINK_TYPES:
            raise UsageError(f"{origin}: alerts.sinks.{name}.type {kind!r}", hint=did_you_mean(str(kind), SINK_TYPES))
        for key in spec:
            if key != "type" and key not in SINK_KEYS[kind]:
                raise UsageError(
                    f"{origin}: unknown key alerts.sinks.{name}.{key}",
                    hint=f"a {kind} sink takes {', '.join(SINK_KEYS[kind]) or 'nothing else'}; "
                    "URLs and secrets come from environment variables (url_env, secret_env, password_env)",
                )
        if kind in ("slack", "webhook") and not spec.get("url_env"):
            raise UsageError(f"{origin}: alerts.sinks.{name} needs url_env (the variable holding its URL)")
        if kind == "email" and not (spec.get("smtp_host") and spec.get("from") and spec.get("to")):
            raise UsageError(f"{origin}: alerts.sinks.{name} needs smtp_host, from and to")
        timeout = spec.get("timeout_s", TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise UsageError(f"{origin}: alerts.sinks.{name}.timeout_s {timeout!r}", hint="seconds, e.g. 10")
        email = {k: v for k, v in spec.items() if kind == "email" and k not in ("type", "timeout_s")}
        sinks.append(Sink(name, kind, spec.get("url_env"), spec.get("secret_env"), email, float(timeout)))
    return AlertsConfig(severity, float(table.get("renotify_hours", 24.0)), tuple(sinks))


def check_sinks(config: AlertsConfig) -> None:
    """Every variable the sinks name is set (and a URL is a URL): a configuration error (exit 2) before any send."""
    for sink in config.sinks:
        for variable in (sink.url_env, sink.secret_env, sink.email.get("user_env"), sink.email.get("password_env")):
            if variable and not os.environ.get(variable):
                raise UsageError(
                    f"alert sink {sink.name}: ${variable} is not set",
                    hint=f"export {variable} before finops alerts (finops.toml names it in alerts.sinks.{sink.name})",
                )
        if sink.url_env:
            url = urlparse(os.environ[sink.url_env])
            try:
                is_url = url.scheme in ("http", "https") and bool(url.hostname) and (url.port or 0) >= 0
            except ValueError:  # a port that is not a number
                is_url = False
            if not is_url:
                raise UsageError(
                    f"alert sink {sink.name}: ${sink.url_env} is not an http(s) URL",
                    hint="it should hold the webhook's full URL, e.g. https://hooks.slack.com/services/...",
                )


def send_alerts(db: Path, config: AlertsConfig, *, now: datetime | None = None) -> AlertsResult:
    """Deliver to each sink the findings it has not taken yet (or that are due again), and record per sink."""
    if not config.sinks:
        raise UsageError("no alert sinks configured", hint="add [alerts.sinks.NAME] to finops.toml")
    check_sinks(config)
    moment = now or datetime.now(UTC)
    due = moment - timedelta(hours=config.renotify_hours)
    severities = list(SEVERITIES[SEVERITIES.index(config.min_severity) :])
    with open_store(db, read_only=True) as store:
        rows = store.fetch(
            """SELECT s.sink, f.fingerprint, f.rule_id, f.severity, f.subject, f.amount, f.currency, f.period_start,
                      f.period_end, f.message, f.evidence, f.first_seen, coalesce(d.delivered_at, a.delivered_at)
               FROM findings f CROSS JOIN (SELECT unnest(?) AS sink) s
               LEFT JOIN alert_deliveries d ON d.fingerprint = f.fingerprint AND d.sink = s.sink
               LEFT JOIN alert_deliveries a ON a.fingerprint = f.fingerprint AND a.sink = ?
               WHERE f.severity IN (SELECT unnest(?)) AND f.last_seen >= ?
                 AND (coalesce(d.delivered_at, a.delivered_at) < ?) IS NOT FALSE  -- never sent, or due again
               ORDER BY f.amount DESC NULLS LAST, f.fingerprint""",
            [[sink.name for sink in config.sinks], ALL_SINKS, severities, due, due],
        )
    pending: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        pending.setdefault(row[0], []).append(_finding(row[1:]))
    failures, delivered, missed = [], [], set()
    sent: set[str] = set()
    for sink in config.sinks:
        findings = pending.get(sink.name, [])
        if not findings:
            continue
        fingerprints = [f["fingerprint"] for f in findings]
        try:
            _deliver(sink, findings)
        except SourceError as e:
            failures.append(e.message)
            missed.update(fingerprints)
            continue
        with open_store(db) as store:  # recorded at once: a later sink failing must not resend to this one
            store.mark_delivered(sink.name, fingerprints, moment)
        delivered.append((sink.name, len(findings)))
        sent.update(fingerprints)
    if sent - missed:
        with open_store(db) as store:  # every sink has them now
            store.mark_notified(sorted(sent - missed), moment)
    return AlertsResult(len(sent), tuple(failures), tuple(delivered))


def deliver_notices(config: AlertsConfig, notices: list[dict[str, Any]]) -> list[str]:
    """Send notices shaped like findings (e.g. a coming stop) to every sink; the failures, empty when delivered."""
    failures = []
    for sink in config.sinks:
        try:
            check_sinks(AlertsConfig(sinks=(sink,)))
            _deliver(sink, notices)
        except FinopsError as e:
            failures.append(e.message)
    return failures


def _finding(row: tuple[Any, ...]) -> dict[str, Any]:
    keys = ("fingerprint", "rule_id", "severity", "subject", "amount", "currency", "period_start", "period_end",
            "message", "evidence", "first_seen", "delivered_at")  # fmt: skip
    record = dict(zip(keys, row, strict=True))
    record["evidence"] = json.loads(record["evidence"]) if isinstance(record["evidence"], str) else record["evidence"]
    record["repeat"] = record.pop("delivered_at") is not None  # this sink had it before: sent again as still there
    return record


def _money(finding: dict[str, Any]) -> str:
    """` ($47,193.60)`, as the report shows money; empty for a finding without an amount."""
    if finding.get("amount") is None:
        return ""
    return f" ({format_money(Decimal(finding['amount']), finding.get('currency') or 'USD')})"


def _json_value(value: object) -> object:
    if isinstance(value, Decimal):
        return exact_text(value)  # as the report's JSON writes money: exact, no exponent, no 15 trailing zeros
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def payload(sink: Sink, findings: list[dict[str, Any]]) -> bytes:
    if sink.type == "slack":  # Slack's incoming-webhook shape, which Mattermost and Teams connectors accept too
        lines = [f"*finops: {len(findings)} finding(s)*"] + [
            f"• [{f['severity']}] {f['rule_id']} {f['message']}{_money(f)}" for f in findings
        ]
        return json.dumps({"text": "\n".join(lines)}).encode()
    document = {"version": 1, "kind": "finops.alerts", "findings": findings}
    return json.dumps(document, default=_json_value).encode()


def _where(url: str) -> str:
    """The host (and port when the URL names one) of a URL: never its path, query or user part, which may hold a
    token."""
    parsed = urlparse(url)
    host = parsed.hostname or "?"
    try:
        port = parsed.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def network_error(error: BaseException, timeout_s: float) -> str:
    """What went wrong on the way to a sink, in words: refused, timed out, DNS, TLS, reset. Never the URL."""
    reason: object = error
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        reason = error.reason
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {reason.verify_message or reason.reason}"
    if isinstance(reason, ssl.SSLError):
        return f"TLS handshake failed: {reason.reason or type(reason).__name__}"
    if isinstance(reason, socket.gaierror):
        return "DNS lookup failed: the host name does not resolve"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (nothing listening on that port)"
    if isinstance(reason, TimeoutError):
        return f"timed out after {timeout_s:g} s"
    if isinstance(reason, http.client.RemoteDisconnected):
        return "connection closed without a response"
    if isinstance(reason, ConnectionResetError):
        return "connection reset"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return type(reason).__name__


def _deliver(sink: Sink, findings: list[dict[str, Any]]) -> None:
    body = payload(sink, findings)
    if sink.type == "stdout":
        print(json.dumps(json.loads(body), indent=2))
        return
    if sink.type == "email":
        _email(sink, findings)
        return
    url = os.environ.get(sink.url_env or "")
    if not url:
        raise UsageError(f"alert sink {sink.name}: ${sink.url_env} is not set", hint="export it before finops alerts")
    headers = {"Content-Type": "application/json", "User-Agent": "finops-alerts"}
    if sink.secret_env:
        secret = os.environ.get(sink.secret_env)
        if not secret:
            raise UsageError(f"alert sink {sink.name}: ${sink.secret_env} is not set")
        headers["X-Finops-Signature"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    last = ""
    for attempt in range(RETRIES):
        try:
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=sink.timeout_s) as response:
                if 200 <= response.status < 300:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except (OSError, http.client.HTTPException) as e:
            last = network_error(e, sink.timeout_s)
        time.sleep(0.2 * 2**attempt)
    raise SourceError(
        f"alert sink {sink.name} ({_where(url)}): delivery failed after {RETRIES} tries: {last}",
        hint="what it missed goes to it on the next run; the other sinks are not sent it again",
    )


def _email(sink: Sink, findings: list[dict[str, Any]]) -> None:
    """One plain-text message over SMTP (STARTTLS and login when configured), retried like the webhooks."""
    import smtplib
    from email.message import EmailMessage

    spec = sink.email
    recipients = spec["to"] if isinstance(spec["to"], list) else [spec["to"]]
    message = EmailMessage()
    message["Subject"] = f"finops: {len(findings)} finding(s)"
    message["From"], message["To"] = spec["from"], ", ".join(recipients)
    message.set_content("\n".join(f"[{f['severity']}] {f['rule_id']} {f['message']}{_money(f)}" for f in findings))
    port = int(spec.get("smtp_port", 25))
    last = ""
    for attempt in range(RETRIES):
        try:
            with smtplib.SMTP(spec["smtp_host"], port, timeout=sink.timeout_s) as smtp:
                if spec.get("starttls"):
                    smtp.starttls()
                if spec.get("user_env"):
                    smtp.login(os.environ.get(spec["user_env"], ""), os.environ.get(spec.get("password_env", ""), ""))
                smtp.send_message(message)
                return
        except smtplib.SMTPAuthenticationError as e:
            last = f"SMTP login refused ({e.smtp_code})"
        except smtplib.SMTPResponseException as e:
            last = f"SMTP {e.smtp_code}"
        except smtplib.SMTPRecipientsRefused as e:
            last = f"SMTP refused the recipients {', '.join(sorted(e.recipients))}"
        except smtplib.SMTPException as e:
            last = f"SMTP: {type(e).__name__}"
        except OSError as e:
            last = network_error(e, sink.timeout_s)
        time.sleep(0.2 * 2**attempt)
    raise SourceError(
        f"alert sink {sink.name} ({spec['smtp_host']}:{port}): email not delivered after {RETRIES} tries: {last}",
        hint="what it missed goes to it on the next run; the other sinks are not sent it again",
    )
