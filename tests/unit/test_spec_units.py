"""The small parsers behind the rules: cron, durations, quantities, secret detection."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gitops_agent.spec.cron import cron_problem
from gitops_agent.spec.secret_scan import credential_kind, secret_name_reason
from gitops_agent.vocabulary.durations import duration_problem, parse_duration
from gitops_agent.vocabulary.quantities import parse_quantity, quantity_text


@pytest.mark.parametrize(
    "schedule",
    [
        "0 2 * * *",
        "*/15 * * * *",
        "0 0-6/2 1,15 * MON-FRI",
        "30 1 ? jan,jul sun",
        "5 4 * * 0-6",
        "@daily",
        "@HOURLY",
        "0 0 31 12 6",
    ],
)
def test_valid_cron(schedule: str) -> None:
    assert cron_problem(schedule) is None


@pytest.mark.parametrize(
    ("schedule", "fragment"),
    [
        ("", "empty"),
        ("0 2 * *", "has 4 fields"),
        ("0 2 * * * *", "has 6 fields"),
        ("60 * * * *", "minute field '60': 60 is out of range 0-59"),
        ("0 24 * * *", "hour field"),
        ("0 0 0 * *", "day of month field '0': 0 is out of range 1-31"),
        ("0 0 * 13 *", "month field"),
        ("0 0 * * 7", "day of week field '7': 7 is out of range 0-6"),
        ("0 0 * * MOO", "'MOO' is not a number or name"),
        ("*/0 * * * *", "step '0' must be a positive number"),
        ("5-1 * * * *", "runs backwards"),
        ("1,,2 * * * *", "empty list item"),
        ("? * * * *", "only allowed in the day fields"),
        ("@every 5m", "unknown macro"),
        ("TZ=UTC 0 2 * * *", "time-zone prefixes"),
    ],
)
def test_invalid_cron(schedule: str, fragment: str) -> None:
    problem = cron_problem(schedule)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize(
    ("schedule", "fragment"),
    [
        ("*/² * * * *", "step '²' must be a positive number"),  # was int('²'): an internal error
        ("²³ * * * *", "'²³' is not a number"),
        ("١ * * * *", "'١' is not a number"),  # Arabic-Indic digits: accepted, then refused by the API
        ("0 */٣ * * *", "step '٣' must be a positive number"),
    ],
)
def test_cron_numbers_are_ascii_digits(schedule: str, fragment: str) -> None:
    problem = cron_problem(schedule)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("4h", 14400), ("7d", 604800), ("1h30m", 5400), ("1d2h3m4s", 93784)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
    assert duration_problem(text) is None


@pytest.mark.parametrize("text", ["0s", "0m0s", "9999d", "30", "5 m", "1m1h", "1.5h", "-5m", ""])
def test_invalid_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_duration_problem_only_for_well_formed_but_unusable() -> None:
    assert duration_problem("0s") == "must be greater than zero and at most 10 years"
    assert duration_problem("soon") is None  # left to the schema's pattern


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        (2, Decimal(2)),
        (0.5, Decimal("0.5")),
        ("1Gi", Decimal(2**30)),
        ("1G", Decimal(10**9)),
        ("1e3", Decimal(1000)),
        ("1.5Mi", Decimal(1572864)),
        (".5", Decimal("0.5")),
    ],
)
def test_quantities(value: object, expected: Decimal) -> None:
    assert parse_quantity(value) == expected


@pytest.mark.parametrize("value", ["1GB", "2 cores", "1gi", "", "m", "1e31", True, None, [1]])
def test_invalid_quantities(value: object) -> None:
    assert parse_quantity(value) is None


def test_quantity_text_of_numbers() -> None:
    assert quantity_text(2) == "2"
    assert quantity_text(2.0) == "2"
    assert quantity_text(0.25) == "0.25"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("DB_PASSWORD", "PASSWORD"),
        ("HF_TOKEN", "TOKEN"),
        ("OPENAI_API_KEY", "API_KEY"),
        ("apiKey", "APIKEY"),
        ("SSH_PRIVATE_KEY", "PRIVATE_KEY"),
        ("AWS_SECRET_ACCESS_KEY", "SECRET"),
        ("GOOGLE_APPLICATION_CREDENTIALS", "CREDENTIALS"),
        ("OAUTH_CLIENT_SECRET", "SECRET"),
    ],
)
def test_secret_names(name: str, reason: str) -> None:
    assert secret_name_reason(name) == reason


@pytest.mark.parametrize(
    "name", ["MAX_TOKENS", "TOKENIZER_PATH", "MODEL_NAME", "KEY_PREFIX", "SECRETARY", "PASSTHROUGH"]
)
def test_ordinary_names(name: str) -> None:
    assert secret_name_reason(name) is None


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nabc", "a private key"),
        ("id=AKIAABCDEFGHIJKLMNOP", "an AWS access key"),
        ("ghp_" + "x" * 36, "a GitHub token"),
        ("sk-proj-" + "a" * 40, "an API secret key (sk-…)"),
        ("xoxb-1234567890-abc", "a Slack token"),
        ("hf_" + "A" * 34, "a Hugging Face token"),
        ("postgres://app:hunter2@db:5432/app", "a URL with a password"),
    ],
)
def test_credentials(value: str, kind: str) -> None:
    assert credential_kind(value) == kind


@pytest.mark.parametrize("value", ["s3://ml/imgrec", "https://example.com/a:b", "task-runner", "sk-short", "AKIA"])
def test_not_credentials(value: str) -> None:
    assert credential_kind(value) is None
