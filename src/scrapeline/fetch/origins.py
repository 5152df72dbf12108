"""Origins (scheme, host, port): what a ``hosts`` entry declares, and a URL's own.

Shared by the HTTP client and the browser fetcher, so that both read an allow-list
the same way: ``"example.org"`` declares its http and https origins on the default
ports (80, 443), ``"example.org:8080"`` both schemes on that port,
``"https://example.org:8443"`` that one origin.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from scrapeline.errors import ConfigError

Origin = tuple[str, str, int]
"""(scheme, lower-case host, port), the port filled in from the scheme when absent."""

SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}


def declared_origins(entry: str) -> frozenset[Origin]:
    """The origins a ``hosts`` entry declares (see the module docstring).

    >>> sorted(declared_origins("Example.org:8080"))
    [('http', 'example.org', 8080), ('https', 'example.org', 8080)]
    >>> sorted(declared_origins("https://example.org"))
    [('https', 'example.org', 443)]
    """
    text = entry.strip()
    name = host_name(text)
    try:
        parts = urlsplit(text if "://" in text else f"//{text}")
        port = parts.port
    except ValueError:
        raise ConfigError(f"invalid host {entry!r}: the port is not a number") from None
    schemes = (parts.scheme,) if parts.scheme else SCHEMES
    if any(scheme not in SCHEMES for scheme in schemes):
        raise ConfigError(f"invalid host {entry!r}: only http and https can be declared")
    return frozenset(
        (scheme, name, port if port is not None else DEFAULT_PORTS[scheme]) for scheme in schemes
    )


def host_name(entry: str) -> str:
    """The lower-case host name in ``"example.com"``, ``"Example.com:8080"`` or a URL."""
    text = entry.strip()
    try:
        name = urlsplit(text if "://" in text else f"//{text}").hostname
    except ValueError:
        name = None
    if not name:
        raise ConfigError(f"invalid host {entry!r}: expected a name such as 'example.com'")
    return name


def authority_origin(prefix: str) -> Origin | None:
    """The origin of a URL (or of its part up to the end of the authority):
    ``"http://User@Example.org"`` → ("http", "example.org", 80); None for a scheme other
    than http(s), without a host, or with a port that is not a number."""
    parts = urlsplit(prefix)
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return (
        parts.scheme,
        parts.hostname,
        port if port is not None else DEFAULT_PORTS[parts.scheme],
    )


def show_origin(origin: Origin) -> str:
    """``("http", "h", 80)`` → ``"http://h:80"``."""
    return f"{origin[0]}://{origin[1]}:{origin[2]}"


def host_port(url: str) -> str:
    """Where a URL goes, as a person names it: ``host:port``, the port filled in from
    the scheme, without credentials, path or query (IPv6 hosts in brackets).

    >>> host_port("http://u:secret@Example.org/x?key=1"), host_port("https://[::1]:8443/")
    ('example.org:80', '[::1]:8443')
    >>> host_port("ftp://example.org/file")
    'example.org'
    """
    origin = authority_origin(url)
    if origin is None:
        return urlsplit(url).hostname or "?"
    name = f"[{origin[1]}]" if ":" in origin[1] else origin[1]
    return f"{name}:{origin[2]}"
