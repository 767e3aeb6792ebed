"""HTTP base URLs (a Prometheus, the GitHub API): one check for spec fields, flags and variables.

A usable base URL is ``http://`` or ``https://``, a host, optionally a port 1-65535 and a
path, no whitespace (RFC 3986's authority, https://www.rfc-editor.org/rfc/rfc3986#section-3.2).
Checking it where it is read turns what an HTTP client would report as a connection failure
(exit 3) into what it is: bad input naming the field or flag (exit 2).
"""

from __future__ import annotations

import re
import urllib.parse

PATTERN = r"^https?://[^\s]+$"
"""What a schema's URL ``pattern`` admits (environment.schema.json ``prometheus.url``); the
rest of :func:`http_url_problem` is what a pattern cannot say."""
_WHITESPACE = re.compile(r"\s")


def matches_pattern(value: str) -> bool:
    """Whether ``value`` passes the schemas' URL pattern (so only the schema reports it when not)."""
    return re.match(PATTERN, value) is not None


def http_url_problem(value: object) -> str | None:
    """Why ``value`` is not a usable http(s) base URL, or None when it is."""
    if not isinstance(value, str) or _WHITESPACE.search(value):
        return "must be an http:// or https:// URL"
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port
    except ValueError as error:  # an unclosed IPv6 bracket, a port that is no number or out of range
        reason = str(error)
        return f"must be an http:// or https:// URL ({reason[:1].lower()}{reason[1:]})"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if not parts.hostname:
        return "must name a host, e.g. http://prometheus.monitoring:9090"
    if port == 0:
        return "port must be 1-65535"
    return None
