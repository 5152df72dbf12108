"""Secrets: values that must never reach a log, the console, the ledger or the archive.

Pure functions, shared by every place that writes text somewhere a person or a
file keeps it (the run log, the runner's failure messages and halt reasons,
the archive index), and :class:`RedactingWriter`, the stream every command's
output goes through::

    >>> redact("GET http://bob:hunter22@10.0.0.1:3128/x failed; key=k-381fd", ["k-381fd"])
    'GET http://***@10.0.0.1:3128/x failed; key=***'
    >>> redact_headers({"Authorization": "Bearer t0ken", "Accept": "text/html"})
    {'Authorization': '***', 'Accept': 'text/html'}

What is hidden:

- **Credentials in URLs**: ``scheme://user:password@host`` becomes ``scheme://***@host``
  wherever a URL appears in text, by :func:`redact` and :func:`strip_credentials`.
- **Sensitive headers** (:func:`is_sensitive_header`): ``Authorization``,
  ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie`` and any header whose name
  mentions a key, token, secret, password, auth, session, signature or
  credential (``X-Api-Key``, ``X-Auth-Token`` ...). :func:`redact_headers`
  replaces their values whole.
- **Secret values** anywhere in text: what :func:`collect_secrets` gathers from a
  pipeline's declaration (sensitive header values and their tokens, cookie values,
  proxy passwords and the Basic credentials built from them) plus the values the
  user names. Values shorter than :data:`MIN_SECRET_LENGTH` are not collected: hiding
  every ``en`` or ``1`` would mangle every line without protecting anything.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, TextIO
from urllib.parse import quote, unquote, urlsplit

import orjson

REDACTED = "***"
"""What a secret is replaced with."""

MIN_SECRET_LENGTH = 4
"""Collected values shorter than this are not treated as secrets (see the module doc)."""

SENSITIVE_HEADERS: frozenset[str] = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie"}
)
"""Header names (lower case) whose values are always secret."""

_SENSITIVE_PARTS = (
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "auth",
    "session",
    "signature",
    "credential",
)

# scheme://userinfo@ — userinfo has no '/', '?', '#', '@' or whitespace.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#@]+@")


@lru_cache(maxsize=1024)  # names repeat on every response: judge each once
def is_sensitive_header(name: str) -> bool:
    """Whether a header's value is secret, judged by its name (case-insensitive)."""
    lower = name.lower()
    return lower in SENSITIVE_HEADERS or any(part in lower for part in _SENSITIVE_PARTS)


def strip_credentials(text: str) -> str:
    """``text`` with the ``user:password@`` of every URL in it replaced by ``***@``.

    >>> strip_credentials("proxy http://u:p@127.0.0.1:3128 down")
    'proxy http://***@127.0.0.1:3128 down'
    """
    if "@" not in text:
        return text
    return _USERINFO.sub(rf"\g<scheme>{REDACTED}@", text)


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` without URL credentials and with every secret replaced by ``***``.

    Longer secrets go first, so a secret that contains another is hidden whole.
    Empty secrets are ignored.
    """
    text = strip_credentials(text)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_headers(headers: Mapping[str, str], secrets: Sequence[str] = ()) -> dict[str, str]:
    """A copy of ``headers`` fit to store: sensitive headers' values are ``***``, the
    others go through :func:`redact` (a ``Location`` may carry credentials). Names come
    back as plain ``str`` (aiohttp's are a subclass that JSON encoders may refuse)."""
    return {
        str(name): REDACTED if is_sensitive_header(name) else redact(value, secrets)
        for name, value in headers.items()
    }


def collect_secrets(
    *,
    headers: Mapping[str, str] | None = None,
    cookies: Mapping[str, str] | None = None,
    proxies: Iterable[str] = (),
    urls: Iterable[str] = (),
    extra: Iterable[str] = (),
) -> tuple[str, ...]:
    """Every secret value in a pipeline's declaration, longest first, without repeats.

    - sensitive ``headers`` (:func:`is_sensitive_header`): the value, the token after
      its scheme (``Bearer t0ken`` → ``t0ken``) and, for Basic, the decoded
      ``user:password`` and the password;
    - ``cookies``: every value;
    - ``proxies`` and other ``urls`` (a base URL with ``user:password@``): the
      password, ``user:password`` and its Basic encoding (what the
      ``Proxy-Authorization`` or ``Authorization`` header carries);
    - ``extra``: taken as given.

    Each value is also collected in its percent-encoded form when that differs,
    since URLs carry it so. Values shorter than :data:`MIN_SECRET_LENGTH` are left out.
    """
    found: list[str] = []
    for name, value in (headers or {}).items():
        if is_sensitive_header(name):
            found.extend(_header_secrets(value))
    found.extend((cookies or {}).values())
    for url in (*proxies, *urls):
        found.extend(_url_secrets(url))
    found.extend(extra)
    spelled: dict[str, None] = {}
    for value in found:
        for form in (value, quote(value, safe="")):
            if len(form) >= MIN_SECRET_LENGTH:
                spelled[form] = None
    return tuple(sorted(spelled, key=len, reverse=True))


def basic_credentials(user: str, password: str) -> str:
    """The token of a ``Basic`` Authorization header for ``user`` and ``password``."""
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _header_secrets(value: str) -> list[str]:
    values = [value]
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if token:
        values.append(token)
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(token, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            _, sep, password = decoded.partition(":")
            if sep:
                values += [decoded, password]
    return values


def _url_secrets(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
        raw_user, raw_password = parts.username, parts.password
    except ValueError:
        return []
    if raw_password is None:
        return []
    user, password = unquote(raw_user or ""), unquote(raw_password)
    return [
        raw_password,
        password,
        f"{raw_user}:{raw_password}",
        f"{user}:{password}",
        basic_credentials(user, password),
    ]


class RedactingWriter:
    """A text stream that writes everything through :func:`redact`.

    What a command prints goes through one of these (stdout and stderr alike), so
    its console lines, its JSON and its error messages are redacted in one place::

        out = RedactingWriter(sys.stdout)
        out.hide(["k-381fd"])
        print("key=k-381fd", file=out)   # key=***

    Text is held back until a line ends (or :meth:`flush`), so a secret written in
    two pieces is still caught. Values are hidden as written and as JSON spells them
    inside a string. Everything else (``isatty``, ``encoding``, ``fileno`` ...) is
    the wrapped stream's.
    """

    def __init__(self, stream: TextIO, secrets: Iterable[str] = ()) -> None:
        self.stream = stream
        self._secrets: tuple[str, ...] = ()
        self._pending = ""
        self.hide(secrets)

    def hide(self, secrets: Iterable[str]) -> None:
        """Add values to hide from now on (empty ones are ignored)."""
        found = dict.fromkeys(self._secrets)
        for secret in secrets:
            if secret:
                found[secret] = None
                found[orjson.dumps(secret).decode()[1:-1]] = None
        self._secrets = tuple(sorted(found, key=len, reverse=True))

    def write(self, text: str) -> int:
        self._pending += text
        end = self._pending.rfind("\n") + 1
        if end:
            done, self._pending = self._pending[:end], self._pending[end:]
            self.stream.write(redact(done, self._secrets))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, ""
            self.stream.write(redact(pending, self._secrets))
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
