"""HTTP base URLs given by users (``spec.prometheus.url``, ``--prometheus``), checked before use (pure)."""

from __future__ import annotations

from urllib.parse import urlsplit


def http_url_problem(url: str) -> str | None:
    """Why ``url`` is not an ``http://`` or ``https://`` base URL with a host (None when it is).

    The checks are those of RFC 3986 as :func:`urllib.parse.urlsplit` applies them (a bracketed
    IPv6 host must close, a port is a number 0…65535), so a mistyped URL is bad input (exit 2),
    never reported as an unreachable server (exit 3).
    """
    if any(char.isspace() for char in url):
        return "must not contain spaces"
    try:
        parts = urlsplit(url)
        if parts.port == 0:  # .port raises ValueError beyond 65535 or when not a number
            return "port 0 is not a port"
    except ValueError as error:
        return f"not a valid URL ({error})"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL, e.g. http://prometheus.monitoring:9090"
    if not parts.hostname:
        return "has no host"
    return None
