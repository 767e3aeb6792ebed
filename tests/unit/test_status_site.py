"""The status site's routes over a real git repository: index, one environment, unknown names,
the audit timeline read once per period, and a timeline that cannot be read."""

from __future__ import annotations

from pathlib import Path

from gitops_agent.app.status_site import StatusSite
from gitops_agent.reconcile.loop import LoopSettings, Reconciler
from gitops_agent.spec import load_specs
from tests.support.gitrepos import make_gitops_repo


def site(repo: Path, ttl: float = 60.0) -> StatusSite:
    specs = load_specs(repo)
    envs = [specs.environments[name] for name in sorted(specs.environments)]
    return StatusSite(repo, specs, envs, Reconciler([], LoopSettings(interval=10)), refresh_seconds=7,
                      timeline_ttl=ttl)


def test_routes(tmp_path: Path) -> None:
    pages = site(make_gitops_repo(tmp_path / "repo"))
    status, html = pages.page("/") or (0, "")
    assert status == 200
    for name in ("dev", "staging", "prod"):
        assert f'href="/environments/{name}"' in html
    assert '<meta http-equiv="refresh" content="7">' in html
    status, html = pages.page("/environments/dev") or (0, "")
    assert status == 200 and "ml-dev" in html and "env/dev" in html
    assert ">spec-commit<" in html  # the commit that added the workflows, from the audit timeline
    status, html = pages.page("/environments/<b>nope</b>") or (0, "")
    assert status == 404 and "&lt;b&gt;nope&lt;/b&gt;" in html
    assert pages.page("/favicon.ico") is None


def test_the_timeline_is_cached_and_a_failure_is_shown_not_raised(tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path / "repo")
    cached, uncached = site(repo), site(repo, ttl=0.0)
    assert "Audit timeline not read" not in (cached.page("/environments/dev") or (0, ""))[1]
    (repo / ".git").rename(repo / "git-moved")  # history gone
    html = (cached.page("/environments/dev") or (0, ""))[1]
    assert ">spec-commit<" in html and "Audit timeline not read" not in html  # read once per period
    status, html = uncached.page("/environments/dev") or (0, "")
    assert status == 200 and "Audit timeline not read" in html and ">spec-commit<" not in html
