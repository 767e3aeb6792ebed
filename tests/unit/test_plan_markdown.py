"""Plan markdown: folded large diffs, a hidden marker, and always under GitHub's limit."""

from __future__ import annotations

from typing import Any

from gitops_agent.plan.build import Plan, diff_environment
from gitops_agent.plan.markdown import COMMENT_LIMIT, MARKER, render_markdown


def _config(name: str, lines: int, value: str = "a") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "n"},
        "data": {f"k{i}": f"{value}{i}" for i in range(lines)},
    }


def test_small_diff_inline_large_diff_folded() -> None:
    env = diff_environment(
        "dev", [_config("small", 2), _config("big", 60)], [_config("small", 2, "b"), _config("big", 60, "b")]
    )
    text = render_markdown(Plan("1" * 40, "2" * 40, (env,)))
    assert text.startswith(MARKER + "\n")
    assert "| `dev` | 0 | 2 | 0 | 0 |" in text
    assert "- **changed** `ConfigMap/n/small`" in text
    assert "<details><summary><b>changed</b> <code>ConfigMap/n/big</code>" in text
    assert "2 object(s) differ in 1 environment(s)" in text
    assert "Plan truncated" not in text


def test_no_differences() -> None:
    env = diff_environment("dev", [_config("a", 1)], [_config("a", 1)])
    text = render_markdown(Plan("1" * 40, "2" * 40, (env,)))
    assert "**No differences.**" in text and "| `dev` | 0 | 0 | 0 | 0 | 1 |" in text


def test_huge_change_is_truncated_under_the_limit_with_a_note() -> None:
    base = [_config(f"cm{i}", 50) for i in range(200)]
    head = [_config(f"cm{i}", 50, "changed-value-") for i in range(200)]
    envs = tuple(diff_environment(e, base, head) for e in ("dev", "staging", "prod"))
    text = render_markdown(Plan("1" * 40, "2" * 40, envs))
    assert len(text) <= COMMENT_LIMIT
    assert "> **Plan truncated to fit a GitHub comment:**" in text
    assert "characters left out" in text
    for env in ("dev", "staging", "prod"):
        assert f"#### `{env}`: 0 added, 200 changed, 0 removed" in text
    assert text.count("<details>") == text.count("</details>")
    assert text.count("```") % 2 == 0


def test_one_enormous_object_is_cut_to_its_first_lines() -> None:
    env = diff_environment("dev", [], [_config("huge", 5000)])
    text = render_markdown(Plan("1" * 40, "2" * 40, (env,)))
    assert len(text) <= COMMENT_LIMIT
    assert "more lines left out" in text
    assert "Plan truncated" not in text


def test_backticks_in_a_diff_get_a_longer_fence() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "md"}, "data": {"readme": "```\ncode\n```\n"}}
    text = render_markdown(Plan("1" * 40, "2" * 40, (diff_environment("dev", [], [obj]),)))
    assert "````diff\n" in text


def test_a_smaller_limit_is_respected() -> None:
    env = diff_environment("dev", [], [_config(f"c{i}", 10) for i in range(50)])
    text = render_markdown(Plan("1" * 40, "2" * 40, (env,)), limit=5000)
    assert len(text) <= 5000 and "Plan truncated" in text
