"""Make docs/images/plan-comment.png: the pull-request comment of `gitops-agent plan` for an
image bump of a training task and a changed HPA bound, rendered as markdown and shot with
headless Chromium (Debian's `chromium`). Run by hand: `python -m tools.plan_screenshot`."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from markdown_it import MarkdownIt

from gitops_agent.plan.build import compute_plan
from gitops_agent.plan.markdown import render_markdown
from tests.support.gitrepos import git, make_gitops_repo

ROOT = Path(__file__).resolve().parents[1]
STYLE = """
body { font: 14px -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #1f2328; margin: 24px;
       max-width: 980px; }
code { background: #eff1f3; border-radius: 4px; padding: 1px 4px; font-size: 12px; }
pre { background: #f6f8fa; padding: 12px; border-radius: 6px; overflow: hidden; font-size: 12px; }
pre code { background: none; padding: 0; }
table { border-collapse: collapse; } td, th { border: 1px solid #d0d7de; padding: 4px 10px; }
h3 { border-bottom: 1px solid #d0d7de; padding-bottom: 6px; } h4 { margin-top: 18px; }
"""


def plan_markdown(workdir: Path) -> str:
    repo = make_gitops_repo(workdir / "repo")
    base = git(repo, "rev-parse", "HEAD")
    spec = repo / "workflows" / "image-recognition.yaml"
    spec.write_text(spec.read_text().replace("imgrec-train:1.4.0", "imgrec-train:1.4.1"))
    prod = repo / "environments" / "prod.yaml"
    prod.write_text(prod.read_text().replace("autoscale: {min: 4, max: 20}", "autoscale: {min: 6, max: 20}"))
    git(repo, "commit", "-qam", "Bump the training image; prod classifier min 6")
    head = git(repo, "rev-parse", "HEAD")
    return render_markdown(compute_plan(repo, base, head, environments=["prod"]))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "plan.html"
        body = MarkdownIt("commonmark", {"html": True}).enable("table").render(plan_markdown(Path(tmp)))
        page.write_text(f"<html><head><meta charset='utf-8'><style>{STYLE}</style></head><body>{body}</body></html>")
        target = ROOT / "docs" / "images" / "plan-comment.png"
        subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--screenshot={target}", "--window-size=1040,900", page.as_uri()],
            check=True, capture_output=True,
        )
        print(target)


if __name__ == "__main__":
    main()
