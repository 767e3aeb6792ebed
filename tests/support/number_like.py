"""Strings that YAML readers could take for numbers, booleans, nulls or timestamps."""

from __future__ import annotations

import math
import string

from gitops_agent.compile.workloads import short_hash

# Members of the kind, each a string that some reader takes for a non-string.
KIND_MEMBERS = [
    "609e4400",  # overflows float64: a string to go-yaml v3, inf to YAML 1.2
    "1e400",
    "-1E+999",
    ".5e999",
    "9223372036854775808",  # beyond int64 (a uint64 to go-yaml)
    "18446744073709551616",  # beyond uint64 (a float to go-yaml)
    "1_000",
    "+1",
    "-0",
    ".5",
    "1.",
    "1e3",
    "0777",
    "08",
    "0x1F",
    "0X1f",
    "0o17",
    "0O17",
    "0b101",
    "-0b101",
    "0b+1",
    "1:20",
    "190:20:30.15",
    ".inf",
    "-.Inf",
    ".NaN",
    ".nan",
    "true",
    "False",
    "y",
    "N",
    "yes",
    "On",
    "OFF",
    "null",
    "NULL",
    "~",
    "",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10",
    "2002-12-14T21:59:43Z",
    "<<",
    "=",
    "trailing ",
    "tab\t",
    " leading",
]


def overflowing_config() -> tuple[dict[str, str], str]:
    """A workflow ``config`` whose 8-hex config hash is digits-e-digits overflowing a float64."""
    for seed in range(100_000):
        config = {"settings.yaml": f"seed: {seed}\n"}
        digest = short_hash(config)
        shaped = all(c in string.digits + "e" for c in digest) and digest.count("e") == 1
        if shaped and digest[0] != "e" and digest[-1] != "e" and math.isinf(float(digest)):
            return config, digest
    raise AssertionError("no overflowing config hash in 100000 seeds")
