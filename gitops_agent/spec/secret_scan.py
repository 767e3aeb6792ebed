"""Recognise secrets written as plain values: secret-looking variable names and
credential-looking strings. Messages name what was found, never the value itself."""

from __future__ import annotations

import itertools
import re

_SECRET_WORDS = frozenset(
    {"PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "CREDENTIAL", "CREDENTIALS"}
)
_SECRET_PAIRS = frozenset(
    {
        ("API", "KEY"),
        ("PRIVATE", "KEY"),
        ("ACCESS", "KEY"),
        ("SECRET", "KEY"),
        ("AUTH", "KEY"),
        ("SIGNING", "KEY"),
        ("ENCRYPTION", "KEY"),
        ("CLIENT", "SECRET"),
    }
)
_SECRET_JOINED = frozenset({"APIKEY", "PRIVATEKEY", "ACCESSKEY", "SECRETKEY", "AUTHTOKEN"})

_CREDENTIAL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")),
    ("an AWS access key", re.compile(r"(?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    (
        "a GitHub token",
        re.compile(r"(?<![A-Za-z0-9])(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{22,})"),
    ),
    ("an API secret key (sk-…)", re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{35}")),
    ("a Hugging Face token", re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}")),
    ("a URL with a password", re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")),
)


def secret_name_reason(name: str) -> str | None:
    """The word that makes an environment variable name look secret, or None."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name.upper()) if p]
    for part in parts:
        if part in _SECRET_WORDS or part in _SECRET_JOINED:
            return part
    for first, second in itertools.pairwise(parts):
        if (first, second) in _SECRET_PAIRS:
            return f"{first}_{second}"
    return None


def credential_kind(value: str) -> str | None:
    """What kind of credential ``value`` contains (e.g. "an AWS access key"), or None."""
    for kind, pattern in _CREDENTIAL_PATTERNS:
        if pattern.search(value):
            return kind
    return None
