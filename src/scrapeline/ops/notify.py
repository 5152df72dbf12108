"""Notifiers: where an alert goes, and sending it there without ever failing a run.

A notifier is an Apprise URL (Slack, Discord, Telegram, ntfy, e-mail, a JSON webhook:
Apprise writes each service's payload) or a ``file`` (a failures log an alert is
appended to, with the last lines of the run's log)::

    >>> Notifier(url="json://127.0.0.1:8080/hook").label
    'json://127.0.0.1:8080'
    >>> Notifier(url="tgram://123456:AAE-secret-token/4242").label
    'tgram://***'
    >>> Notifier(file=Path("failures.log"), events=["failed", "halted"]).wants("halted")
    True

Apprise URLs carry tokens (in the user part, the host, the path or the query), so a
notifier is named in logs only by its :attr:`~Notifier.label`, and whatever Apprise
says about a failed delivery goes through :func:`scrapeline.secrets.redact` with every
part of the URL that may be a token (:meth:`Notifier.secret_values`).

:func:`deliver` never raises: a notifier that cannot be reached, refuses the message or
points at a file that cannot be written gives a :class:`Delivery` with the reason, and
is logged on ``scrapeline.alerts``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scrapeline.secrets import collect_secrets, redact

__all__ = [
    "ALERT_EVENTS",
    "Alert",
    "AlertEvent",
    "Delivery",
    "Notifier",
    "deliver",
    "last_lines",
]

log = logging.getLogger("scrapeline.alerts")

AlertEvent: TypeAlias = Literal["failed", "halted", "failures", "recovered", "host_paused", "stale"]
ALERT_EVENTS: tuple[AlertEvent, ...] = (
    "failed",
    "halted",
    "failures",
    "recovered",
    "host_paused",
    "stale",
)
"""What a notifier can be told of: a run that did not finish (interrupted, crashed, or
stopped by an error), a run that halted, a run that finished with failed items, a run
done after one that was not, a host paused or its breaker open too long, published
data older than allowed (``scrapeline freshness``)."""

SEND_TIMEOUT = 30.0
"""Seconds one Apprise delivery may take before it counts as failed."""
LOG_TAIL = 20
"""Lines of the run's log a ``file`` notifier appends with each alert."""


class Notifier(BaseModel):
    """One place alerts go: an Apprise ``url`` or a ``file``, for some ``events``.

    ``host_paused_minutes``: how long a host must stay paused (429) or behind an open
    breaker before ``host_paused`` is sent (once per host per run)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: str | None = None
    file: Path | None = None
    events: list[AlertEvent] = Field(default_factory=lambda: list(ALERT_EVENTS))
    host_paused_minutes: float = Field(default=10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _apprise_knows_it(cls, url: str | None) -> str | None:
        # the message never repeats the URL: it may carry a token
        if url is not None and not _apprise().Apprise(asset=_asset()).add(url):
            raise ValueError(
                "not a notification URL Apprise understands (see the Apprise wiki for "
                "each service's form, e.g. json://host:port/path, mailto://host?to=...)"
            )
        return url

    @model_validator(mode="after")
    def _one_target(self) -> Notifier:
        if (self.url is None) == (self.file is None):
            raise ValueError("a notifier takes exactly one of url (an Apprise URL) or file")
        return self

    def wants(self, event: str) -> bool:
        return event in self.events

    @property
    def label(self) -> str:
        """The notifier in words fit for a log: the scheme and, when it is a network
        host (not a token, as in ``tgram://TOKEN/...``), the host and port."""
        if self.file is not None:
            return f"file {self.file}"
        parts = urlsplit(self.url or "")
        host = (parts.hostname or "").lower()
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            port = ""
        return f"{parts.scheme}://{host + port if _is_network_host(host) else '***'}"

    def secret_values(self) -> tuple[str, ...]:
        """Every part of the URL that may be a token: its user and password, each path
        segment and query value, and its host when that is not a network host."""
        if self.url is None:
            return ()
        parts = urlsplit(self.url)
        host = (parts.hostname or "").lower()
        found = [parts.username or "", parts.password or ""]
        found += [unquote(segment) for segment in parts.path.split("/")]
        found += [value for _, value in parse_qsl(parts.query)]
        if _is_network_host(host):
            found = [value for value in found if value.lower() != host]
        else:
            found += [parts.netloc, host]
        return collect_secrets(urls=[self.url], extra=found)


def _is_network_host(host: str) -> bool:
    """Whether ``host`` names a machine (a domain name, localhost, an IP address)
    rather than being a token, as Telegram's and Slack's URLs have it."""
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "." in host
    return True


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One alert, ready to send: which event, a title line and a body of lines."""

    event: AlertEvent
    title: str
    body: str
    level: Literal["info", "success", "warning", "failure"] = "failure"
    """How Apprise flags it (colours and icons on the services that show them)."""
    log_path: Path | None = None
    """The run's log file: a ``file`` notifier appends its last lines."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """What became of one alert at one notifier (``notifier`` is its label)."""

    notifier: str
    event: str
    sent: bool
    error: str | None = None


async def deliver(
    notifier: Notifier, alert: Alert, *, secrets: Sequence[str] = (), timeout: float = SEND_TIMEOUT
) -> Delivery:
    """Send ``alert`` to ``notifier``. Never raises (but for cancellation): a failure
    is logged, redacted of the notifier's tokens and of ``secrets``, and returned."""
    hidden = (*notifier.secret_values(), *secrets)
    try:
        if notifier.file is not None:
            await asyncio.to_thread(_append, notifier.file, alert)
            error = None
        else:
            error = await _send_apprise(notifier.url or "", alert, timeout)
    except Exception as exc:  # a notifier never fails the run, whatever goes wrong
        error = f"{type(exc).__name__}: {exc}"
    if error is None:
        log.info("alert %s sent to %s", alert.event, notifier.label)
        return Delivery(notifier=notifier.label, event=alert.event, sent=True)
    error = redact(error, hidden)
    log.warning("alert %s to %s failed: %s", alert.event, notifier.label, error)
    return Delivery(notifier=notifier.label, event=alert.event, sent=False, error=error)


async def _send_apprise(url: str, alert: Alert, timeout: float) -> str | None:
    """None once Apprise has delivered; else what went wrong, in Apprise's words."""
    apprise = _apprise()
    sender = apprise.Apprise(asset=_asset())
    if not sender.add(url):
        return "not a notification URL Apprise understands"
    result = await sender.async_notify(
        body=alert.body,
        title=alert.title,
        notify_type=alert.level,
        body_format="text",  # the lines stay lines in a mail's plain part too
        timeout=timeout,
    )
    if result:
        return None
    said = [entry.message for entry in result.logs() if entry.message]
    return "; ".join(dict.fromkeys(said)) or f"not delivered ({result.status.name.lower()})"


def _append(path: Path, alert: Alert) -> None:
    """Append one block to the failures log: when, the alert, the run log's tail."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    block = [f"== {stamp} {alert.title}", alert.body]
    if alert.log_path is not None:
        tail = last_lines(alert.log_path, LOG_TAIL)
        if tail:
            block += [f"-- the last {len(tail)} lines of {alert.log_path}:", *tail]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:  # one write: blocks never interleave
        out.write("\n".join(block) + "\n\n")


def last_lines(path: Path, n: int) -> list[str]:
    """The last ``n`` lines of a text file (none when it cannot be read), reading at
    most its last 64 KiB: a run log can be large."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - 65536))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    lines = text.splitlines()
    if size > 65536 and lines:
        lines = lines[1:]  # the first may be cut
    return lines[-n:]


def _apprise() -> Any:
    """Apprise, imported when an alert is due: it is slow to import, and most runs
    have nothing to send."""
    with warnings.catch_warnings():
        # Apprise's e-mail plugin imports imghdr, deprecated since Python 3.11: imported
        # here once, quietly, it is not imported again (and warned of) mid-delivery
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise

        with contextlib.suppress(ImportError):
            import imghdr  # noqa: F401
    return apprise


def _asset() -> Any:
    # keep Apprise's state in memory: nothing of its own in the user's home
    return _apprise().AppriseAsset(storage_mode="memory")
