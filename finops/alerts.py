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

A finding is marked sent only when every sink took it; a failed delivery is retried, reported (exit 3) and the
finding stays pending for the next run. URLs and secrets are never printed: errors name the sink and the host.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from finops.errors import SourceError, UsageError, did_you_mean
from finops.rules_engine import SEVERITIES
from finops.store import open_store

SINK_TYPES = ("slack", "webhook", "email", "stdout")
SINK_KEYS = {
    "slack": ("url_env",),
    "webhook": ("url_env", "secret_env"),
    "email": ("smtp_host", "smtp_port", "from", "to", "starttls", "user_env", "password_env"),
    "stdout": (),
}
RETRIES = 3


@dataclass(frozen=True)
class Sink:
    name: str
    type: str
    url_env: str | None = None
    secret_env: str | None = None
    email: dict[str, Any] = field(default_factory=dict)  # smtp_host, smtp_port, from, to, starttls, *_env


@dataclass(frozen=True)
class AlertsConfig:
    min_severity: str = "medium"
    renotify_hours: float = 24.0
    sinks: tuple[Sink, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class AlertsResult:
    sent: int
    failures: tuple[str, ...]


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
        email = {k: v for k, v in spec.items() if kind == "email" and k != "type"}
        sinks.append(Sink(name, kind, spec.get("url_env"), spec.get("secret_env"), email))
    return AlertsConfig(severity, float(table.get("renotify_hours", 24.0)), tuple(sinks))


def send_alerts(db: Path, config: AlertsConfig, *, now: datetime | None = None) -> AlertsResult:
    """Deliver pending findings to every sink; mark them sent only when all sinks took them."""
    if not config.sinks:
        raise UsageError("no alert sinks configured", hint="add [alerts.sinks.NAME] to finops.toml")
    moment = now or datetime.now(UTC)
    due = moment - timedelta(hours=config.renotify_hours)
    severities = list(SEVERITIES[SEVERITIES.index(config.min_severity) :])
    with open_store(db, read_only=True) as store:
        rows = store.fetch(
            """SELECT fingerprint, rule_id, severity, subject, amount, currency, period_start, period_end, message,
                      evidence, first_seen, notified_at
               FROM findings WHERE severity IN (SELECT unnest(?)) AND last_seen >= ?
                 AND (notified_at IS NULL OR notified_at < ?)
               ORDER BY amount DESC NULLS LAST, fingerprint""",
            [severities, due, due],
        )
    findings = [_finding(row) for row in rows]
    if not findings:
        return AlertsResult(0, ())
    failures = []
    for sink in config.sinks:
        try:
            _deliver(sink, findings)
        except SourceError as e:
            failures.append(e.message)
    if not failures:
        with open_store(db) as store:
            store.mark_notified([f["fingerprint"] for f in findings], moment)
    return AlertsResult(len(findings) if not failures else 0, tuple(failures))


def deliver_notices(config: AlertsConfig, notices: list[dict[str, Any]]) -> list[str]:
    """Send notices shaped like findings (e.g. a coming stop) to every sink; the failures, empty when delivered."""
    failures = []
    for sink in config.sinks:
        try:
            _deliver(sink, notices)
        except SourceError as e:
            failures.append(e.message)
    return failures


def _finding(row: tuple[Any, ...]) -> dict[str, Any]:
    keys = ("fingerprint", "rule_id", "severity", "subject", "amount", "currency", "period_start", "period_end",
            "message", "evidence", "first_seen", "notified_at")  # fmt: skip
    record = dict(zip(keys, row, strict=True))
    record["evidence"] = json.loads(record["evidence"]) if isinstance(record["evidence"], str) else record["evidence"]
    record["repeat"] = record.pop("notified_at") is not None
    return record


def payload(sink: Sink, findings: list[dict[str, Any]]) -> bytes:
    if sink.type == "slack":  # Slack's incoming-webhook shape, which Mattermost and Teams connectors accept too
        lines = [f"*finops: {len(findings)} finding(s)*"] + [
            f"• [{f['severity']}] {f['rule_id']} {f['message']}"
            + (f" ({f['amount']} {f['currency']})" if f["amount"] is not None else "")
            for f in findings
        ]
        return json.dumps({"text": "\n".join(lines)}).encode()
    return json.dumps({"version": 1, "kind": "finops.alerts", "findings": findings}, default=str).encode()


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
        raise SourceError(f"alert sink {sink.name}: ${sink.url_env} is not set", hint="export it before finops alerts")
    headers = {"Content-Type": "application/json", "User-Agent": "finops-alerts"}
    if sink.secret_env:
        secret = os.environ.get(sink.secret_env)
        if not secret:
            raise SourceError(f"alert sink {sink.name}: ${sink.secret_env} is not set")
        headers["X-Finops-Signature"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    host = urlparse(url).hostname or "?"
    last = ""
    for attempt in range(RETRIES):
        try:
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=10) as response:
                if 200 <= response.status < 300:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except OSError as e:
            last = type(e).__name__
        time.sleep(0.2 * 2**attempt)
    raise SourceError(
        f"alert sink {sink.name} ({host}): delivery failed after {RETRIES} tries: {last}",
        hint="the findings stay pending and go out on the next run",
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
    message.set_content("\n".join(
        f"[{f['severity']}] {f['rule_id']} {f['message']}"
        + (f" ({f['amount']} {f['currency']})" if f["amount"] is not None else "")
        for f in findings
    ))  # fmt: skip
    last = ""
    for attempt in range(RETRIES):
        try:
            with smtplib.SMTP(spec["smtp_host"], int(spec.get("smtp_port", 25)), timeout=10) as smtp:
                if spec.get("starttls"):
                    smtp.starttls()
                if spec.get("user_env"):
                    smtp.login(os.environ.get(spec["user_env"], ""), os.environ.get(spec.get("password_env", ""), ""))
                smtp.send_message(message)
                return
        except (OSError, smtplib.SMTPException) as e:
            last = type(e).__name__
        time.sleep(0.2 * 2**attempt)
    raise SourceError(
        f"alert sink {sink.name} ({spec['smtp_host']}): email not delivered after {RETRIES} tries: {last}",
        hint="the findings stay pending and go out on the next run",
    )
