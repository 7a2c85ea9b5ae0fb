"""CI scenarios, executed: the dev stack's ci.yml run by act on the sample monorepo.

Each test is one scenario of issue 11 (numbers in the names; ``test_27_*``: issue 27). Scenarios
about the jobs beside and after the app's own checks (build with its scan, publish, notify; the
tag's release.yml) drop validate/test/integration (``APP_JOBS``) to save time; the ones marked ``slow`` run every job, the sample app's install, lint, format check,
type check, unit and integration tests included, for real.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import pytest

from components.signing import sign_flags
from components.workflows.ci import SNYK_CLI_VERSION
from tests.pipeline.harness import (
    APP_JOBS,
    HttpRule,
    Pipeline,
    Response,
    RunResult,
    Scenario,
    stack_files,
    without_jobs,
)

pytestmark = pytest.mark.pipeline

IMAGE: Final = "ghcr.io/acme/webshop"
PACKAGES: Final = ["@acme/api", "@acme/shared"]
"""The sample app's workspaces, by their npm names (scoped, in apps/ and libs/)."""
APP: Final[dict[str, Any]] = {"cicd:pipeline.packages": PACKAGES}
DISCORD: Final = "https://discord.test/api/webhooks/1/abc"
SLACK: Final = "https://hooks.slack.test/services/T0/B0/xyz"
SECRETS: Final = {
    "DISCORD_WEBHOOK_URL": DISCORD,
    "SLACK_WEBHOOK_URL": SLACK,
    "SNYK_TOKEN": "snyk-token-for-tests",
}
NOTIFIERS_OK: Final = (HttpRule(r"discord\.test", (Response(204),)), HttpRule(r"slack\.test"))
HEALTHY: Final = Scenario(http=NOTIFIERS_OK)


def _ci(
    tmp_path: Path,
    scenario: Scenario = HEALTHY,
    changes: dict[str, Any] | None = None,
    *,
    full: bool = False,
) -> Pipeline:
    """A repository holding the sample app and every file the dev stack commits."""
    files = stack_files("dev", {**APP, **(changes or {})})
    if not full:
        ci = files[".github/workflows/ci.yml"]
        files[".github/workflows/ci.yml"] = without_jobs(ci, *APP_JOBS)
    pipeline = Pipeline(tmp_path, scenario)
    pipeline.add_files(files)
    return pipeline


def _push(pipeline: Pipeline, ref: str = "refs/heads/develop", **kwargs: Any) -> RunResult:
    return pipeline.run("push", "ci.yml", ref=ref, secrets=kwargs.pop("secrets", SECRETS), **kwargs)


def _pushed_tags(pipeline: Pipeline) -> list[str]:
    return [c["argv"][1] for c in pipeline.calls("docker") if c["argv"][0] == "push"]


@pytest.mark.slow
def test_1_7_9_10_push_to_the_default_branch_runs_everything_and_publishes(
    tmp_path: Path,
) -> None:
    """Push to develop: the app's own checks run for real (ESLint, Prettier over the whole
    repository including the stack's files, tsc --build over the project references, Vitest
    with coverage per scoped package, integration tests), then build, scan, publish."""
    pipeline = _ci(tmp_path, full=True)
    result = _push(pipeline)

    assert result.jobs == {
        "validate": "success",
        "test": "success",
        "test (@acme/api)": "success",
        "test (@acme/shared)": "success",
        "integration": "success",
        "build": "success",
        "snyk": "success",
        "publish": "success",
        "ci-ok": "success",
        "notify": "success",
        "security-alert": "skipped",
    }, result.log
    assert result.step("validate", "Prettier check") == "success"
    artifacts = pipeline.artifacts()
    # coverage found where Vitest wrote it (apps/api/coverage, libs/shared/coverage)
    assert "lcov.info" in artifacts["coverage-acme-api"]
    assert "server.ts" in artifacts["coverage-acme-api"]["lcov.info"]
    assert "index.ts" in artifacts["coverage-acme-shared"]["lcov.info"]
    # publish pushed the scanned tarball under the version and SHA tags, signed its digest and
    # handed that digest to the deploy
    tags = _pushed_tags(pipeline)
    assert any(re.fullmatch(rf"{IMAGE}:1\.4\.2-[0-9]+", t) for t in tags), tags
    assert f"{IMAGE}:sha-{pipeline.sha}" in tags
    digest = artifacts["image-digest"]["digest.txt"].strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    signed = [c["argv"] for c in pipeline.calls("cosign") if c["argv"][0] == "sign"]
    assert signed == [["sign", "--yes", *sign_flags().split(), f"{IMAGE}@{digest}"]]
    provenance = pipeline.calls("action:actions/attest-build-provenance")
    assert provenance[0]["inputs"]["subject-digest"] == digest
    discord = [c for c in pipeline.calls("curl") if "discord" in c["url"]]
    assert len(discord) == 1
    assert "CI passed on acme/shop develop" in json.loads(discord[0]["data"][0])["content"]


@pytest.mark.slow
def test_10_type_check_checks_the_referenced_projects(tmp_path: Path) -> None:
    """A type error in a referenced project fails validate (``tsc --noEmit -p .`` on the
    solution tsconfig, the old default, checked no file and passed)."""
    pipeline = _ci(tmp_path, full=True)
    pipeline.write_file("libs/shared/src/broken.ts", 'export const port: number = "8080";\n')
    result = pipeline.run("push", "ci.yml", job="validate", secrets=SECRETS)
    assert result.jobs["validate"] == "failure"
    assert result.step("validate", "ESLint") == "success"
    assert result.step("validate", "TypeScript compile check") == "failure"
    assert "TS2322" in result.job_output("validate")


@pytest.mark.slow
def test_7_a_package_that_is_no_workspace_fails_its_leg_clearly(tmp_path: Path) -> None:
    """A matrix entry npm does not know fails its own leg with the reason; the others pass."""
    changes = {"cicd:pipeline.packages": ["@acme/api", "@acme/billing"]}
    pipeline = _ci(tmp_path, changes=changes, full=True)
    result = pipeline.run("push", "ci.yml", job="test", secrets=SECRETS)
    assert result.jobs["test (@acme/api)"] == "success"
    assert result.jobs["test (@acme/billing)"] == "failure"
    assert result.step("test (@acme/billing)", "Find the package's workspace") == "failure"
    assert any(
        "@acme/billing is not an npm workspace" in e for e in result.annotations("error", "test")
    )
    assert list(pipeline.artifacts()) == ["coverage-acme-api"]


def test_2_dependabot_pull_request_skips_what_needs_secrets_with_a_reason(tmp_path: Path) -> None:
    """Dependabot's PR branch is in the repository, yet its run gets no Actions secrets and a
    read-only token: Snyk and the SARIF upload skip, saying why, and ci-ok is green."""
    pipeline = _ci(tmp_path)
    result = pipeline.run(
        "pull_request",
        "ci.yml",
        ref="refs/pull/7/merge",
        actor="dependabot[bot]",
        secrets={},
        payload={
            "number": 7,
            "pull_request": {
                "number": 7,
                "user": {"login": "dependabot[bot]"},
                "head": {
                    "ref": "dependabot/npm_and_yarn/vite-8.3.9",
                    "sha": pipeline.sha,
                    "repo": {"full_name": "acme/shop"},
                },
                "base": {"ref": "develop", "repo": {"full_name": "acme/shop"}},
            },
        },
    )
    assert result.jobs["ci-ok"] == "success", result.log
    assert result.jobs["snyk"] == "success"
    assert result.jobs["build"] == "success"
    assert result.jobs["publish"] == "skipped"
    assert result.jobs["notify"] == "skipped"
    assert any("SNYK_TOKEN is not available" in n for n in result.annotations("notice", "snyk"))
    assert pipeline.calls("snyk") == []
    assert pipeline.calls("upload-sarif") == []
    assert pipeline.calls("trivy"), "the image is still scanned; Trivy's exit code gates"


@pytest.mark.parametrize(
    ("secrets", "answers", "warning"),
    [
        (SECRETS, (Response(500, "discord down"),), "the Discord notification failed"),
        ({k: v for k, v in SECRETS.items() if k != "DISCORD_WEBHOOK_URL"}, (), "not set"),
    ],
    ids=["discord-500", "webhook-unset"],
)
def test_3_a_failing_notifier_is_a_warning_not_a_failed_run(
    tmp_path: Path, secrets: dict[str, str], answers: tuple[Response, ...], warning: str
) -> None:
    """The run's conclusion decides whether dev deploys: Discord must not decide it."""
    scenario = Scenario(http=(HttpRule(r"discord\.test", answers or (Response(),)),))
    pipeline = _ci(tmp_path, scenario)
    result = _push(pipeline, secrets=secrets)
    assert result.returncode == 0, result.log
    assert set(result.jobs.values()) <= {"success", "skipped"}
    assert result.jobs["notify"] == "success"
    assert result.jobs["publish"] == "success"
    assert any(warning in w for w in result.annotations("warning", "notify"))


def test_3_slack_answering_500_leaves_the_alert_job_green(tmp_path: Path) -> None:
    """A failed scan alerts Slack; Slack's own outage is logged, never a second failure."""
    scenario = Scenario(
        http=(HttpRule(r"slack\.test", (Response(500),)), HttpRule(r"discord\.test")),
        exit_codes={"trivy": {"image": 1}},
    )
    pipeline = _ci(tmp_path, scenario)
    result = _push(pipeline)
    assert result.jobs["build"] == "failure"
    assert result.step("build", "Trivy image scan") == "failure"
    assert result.jobs["security-alert"] == "success", result.annotations("error")
    # The one notifier (components/workflows/notify.py) retries twice, then warns.
    assert [c["status"] for c in pipeline.calls("curl") if "slack" in c["url"]] == [500] * 3
    assert any("the Slack notification failed" in w for w in result.annotations("warning"))


def test_4_private_repository_without_code_scanning(tmp_path: Path) -> None:
    """sarifUpload off: no upload (it would fail without code scanning), Trivy still gates."""
    changes = {"cicd:pipeline.scanners.sarifUpload": False}
    scenario = Scenario(http=NOTIFIERS_OK, code_scanning=False, private_repository=True)
    clean = _ci(tmp_path / "clean", scenario, changes)
    result = _push(clean)
    assert result.jobs["build"] == "success", result.log
    assert clean.calls("upload-sarif") == []
    trivy = clean.calls("trivy")[0]["argv"]
    assert trivy[trivy.index("--format") + 1] == "table"

    vulnerable = Scenario(
        http=NOTIFIERS_OK,
        code_scanning=False,
        private_repository=True,
        exit_codes={"trivy": {"image": 1}},
    )
    found = _ci(tmp_path / "vulnerable", vulnerable, changes)
    result = _push(found)
    assert result.jobs["build"] == "failure"
    assert result.jobs["publish"] == "skipped"
    assert result.jobs["ci-ok"] == "failure"
    assert result.jobs["security-alert"] == "success"
    assert any("slack.test" in c["url"] for c in found.calls("curl"))


def test_4_private_repository_with_code_scanning_uploads_with_contents_read(
    tmp_path: Path,
) -> None:
    """The default (SARIF upload on) in a private repository: upload-sarif needs contents and
    actions read besides security-events write, and gets them."""
    scenario = Scenario(http=NOTIFIERS_OK, private_repository=True)
    pipeline = _ci(tmp_path, scenario)
    result = _push(pipeline)
    assert result.jobs["build"] == "success", result.annotations("error")
    assert len(pipeline.calls("upload-sarif")) == 1


def test_4_private_repository_on_team_publishes_without_provenance_or_sarif(
    tmp_path: Path,
) -> None:
    """A private repository on GitHub Team: attest-build-provenance fails there (Enterprise
    Cloud only) and code scanning is missing. With the plan in cicd:pipeline.github, CI leaves
    both out, says why in notices, and publishes; a plan that claims more fails as GitHub does."""
    scenario = Scenario(http=NOTIFIERS_OK, code_scanning=False, private_repository=True)
    team = {"cicd:pipeline.github": {"visibility": "private", "plan": "team"}}
    pipeline = _ci(tmp_path / "team", scenario, team)
    result = _push(pipeline)
    assert result.jobs["publish"] == "success", result.annotations("error")
    assert result.jobs["ci-ok"] == "success"
    assert pipeline.calls("action:actions/attest-build-provenance") == []
    assert pipeline.calls("upload-sarif") == []
    assert any(
        n.startswith("Build provenance attestation skipped: it needs artifact attestations")
        for n in result.annotations("notice", "publish")
    ), result.annotations("notice")
    assert any(n.startswith("SARIF upload") for n in result.annotations("notice", "build"))

    claimed = {"cicd:pipeline.github": {"visibility": "private", "plan": "enterpriseCloud"}}
    wrong = _ci(tmp_path / "claimed", scenario, claimed)
    result = _push(wrong)
    assert result.jobs["publish"] == "failure"
    assert any("Feature not available" in e for e in result.annotations("error", "publish"))


def test_5_custom_default_branch_publishes_from_it(tmp_path: Path) -> None:
    changes = {"cicd:app.defaultBranch": "trunk", "cicd:approval.branches": ["trunk"]}
    changes["cicd:branchProtection.branch"] = "trunk"
    files = stack_files("dev", {**APP, **changes})
    for path in (".github/workflows/ci.yml", ".github/dependabot.yml"):
        assert re.search(r"\bdevelop\b", files[path]) is None, path
    pipeline = _ci(tmp_path, changes=changes)
    result = _push(pipeline, ref="refs/heads/trunk")
    assert result.jobs["publish"] == "success", result.log
    assert result.jobs["notify"] == "success"
    assert _pushed_tags(pipeline)
    assert "trunk" in json.loads(pipeline.calls("curl")[0]["data"][0])["content"]


SIGNER = "https://github.com/acme/shop/.github/workflows/ci.yml@refs/heads/develop"
ISSUER = "https://token.actions.githubusercontent.com"
PUBLISHED = "sha256:" + "5" * 64
RELEASE_REF: Final = "refs/tags/v1.4.2"


def _released(
    pipeline: Pipeline,
    signer: str = SIGNER,
    published: bool = True,
    built: str | None = None,
    scenario: Scenario | None = None,
) -> RunResult:
    """Push tag v1.4.2 on HEAD; ``built`` (default HEAD) is the commit whose default-branch CI
    run did (or did not) publish ``PUBLISHED``."""
    commit = built or pipeline.sha
    pipeline.change(
        replace(
            scenario or pipeline.scenario,
            registry_tags={f"{IMAGE}:sha-{commit}": PUBLISHED} if published else {},
            signatures={PUBLISHED: {"identity": signer, "issuer": ISSUER, "commit": commit}},
        )
    )
    return pipeline.run("push", "release.yml", ref=RELEASE_REF, secrets=SECRETS)


def _git(pipeline: Pipeline, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        cwd=pipeline.repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def _merge_develop_into_main(pipeline: Pipeline, hotfix: bool = False) -> tuple[str, str]:
    """The usual release: main (one commit behind develop) gets a merge commit of develop.
    Returns (merge commit, develop's head = the merge's second parent). ``hotfix``: main holds
    a change develop never had, so the merge's files differ from develop's."""
    develop = pipeline.sha
    _git(pipeline, "checkout", "--quiet", "-b", "main", "HEAD~1")
    if hotfix:
        pipeline.write_file("HOTFIX.md", "fixed on main only\n")
    _git(pipeline, "merge", "--quiet", "--no-ff", "--no-edit", "develop")
    merge = pipeline.sha
    assert _git(pipeline, "rev-parse", f"{merge}^2") == develop
    return merge, develop


def _retagged(pipeline: Pipeline) -> list[list[str]]:
    return [c["argv"] for c in pipeline.calls("docker") if c["argv"][:3] == IMAGETOOLS_CREATE]


IMAGETOOLS_CREATE: Final = ["buildx", "imagetools", "create"]


def _registry_tags(pipeline: Pipeline) -> dict[str, str]:
    """Tags imagetools create set in the fake registry (tests/pipeline/fakes.py)."""
    added = pipeline.state / "registry-tags.json"
    return dict(json.loads(added.read_text())) if added.exists() else {}


def test_6_a_retag_that_wraps_the_digest_in_a_new_index_fails(tmp_path: Path) -> None:
    """Were the retag to use imagetools create's default (``--prefer-index=true``), the tag
    would name a new, unsigned index: the release checks the tag and fails saying so."""
    pipeline = _ci(tmp_path)
    release = (pipeline.repo / ".github" / "workflows" / "release.yml").read_text()
    assert "--prefer-index=false " in release
    pipeline.add_workflow("release.yml", release.replace("--prefer-index=false ", ""))
    result = _released(pipeline)
    assert result.jobs["release"] == "failure"
    assert any("not the signed " + PUBLISHED in e for e in result.annotations("error")), (
        result.annotations("error")
    )


def test_6_release_tag_names_the_digest_the_default_branch_published(tmp_path: Path) -> None:
    """Build once, promote: the tag adds the semver name to the signed default-branch digest;
    nothing is validated, built, pushed, signed or attested again (ci.yml does not run on a
    tag), the registry digest itself is scanned, and that digest goes to the deploy."""
    pipeline = _ci(tmp_path)
    result = _released(pipeline)
    assert result.jobs["release"] == "success", result.log
    assert result.step("release", "Find the digest the default branch published") == "success"
    assert pipeline.calls("build-push") == [] and _pushed_tags(pipeline) == []
    assert _retagged(pipeline) == [
        [
            *IMAGETOOLS_CREATE,
            "--prefer-index=false",
            "--tag",
            f"{IMAGE}:1.4.2",
            f"{IMAGE}@{PUBLISHED}",
        ]
    ]
    # Trivy scanned the released digest in the registry, not a tarball of a rebuild
    (trivy,) = [c["argv"] for c in pipeline.calls("trivy")]
    assert trivy[-1] == f"{IMAGE}@{PUBLISHED}" and "--input" not in trivy
    # the release tag names the signed digest itself, not a new index around it
    assert _registry_tags(pipeline) == {f"{IMAGE}:1.4.2": PUBLISHED}
    (verify,) = [c["argv"] for c in pipeline.calls("cosign")]
    assert verify[0] == "verify"  # verified against the default branch's identity, not re-signed
    assert verify[verify.index("--certificate-github-workflow-sha") + 1] == pipeline.sha
    assert pipeline.calls("action:actions/attest-build-provenance") == []
    assert pipeline.artifacts()["image-digest"]["digest.txt"].strip() == PUBLISHED


def test_27_tag_on_a_merge_commit_releases_the_digest_of_its_merged_parent(
    tmp_path: Path,
) -> None:
    """The usual develop -> main merge commit was never built: the tag releases the digest CI
    published for the merge's second parent (the merged develop commit), whose certificate
    names that commit."""
    pipeline = _ci(tmp_path)
    merge, develop = _merge_develop_into_main(pipeline)
    result = _released(pipeline, built=develop)
    assert result.jobs["release"] == "success", result.annotations("error")
    assert _registry_tags(pipeline) == {f"{IMAGE}:1.4.2": PUBLISHED}
    (verify,) = [c["argv"] for c in pipeline.calls("cosign")]
    assert verify[verify.index("--certificate-github-workflow-sha") + 1] == develop != merge
    assert pipeline.artifacts()["image-digest"]["digest.txt"].strip() == PUBLISHED


def test_27_tag_on_a_merge_commit_without_a_built_parent_fails_clearly(tmp_path: Path) -> None:
    pipeline = _ci(tmp_path)
    merge, develop = _merge_develop_into_main(pipeline)
    result = _released(pipeline, published=False, built=develop)
    assert result.jobs["release"] == "failure"
    assert any(
        f"v1.4.2 points at merge commit {merge}; neither it nor its merged parent {develop} "
        "was published" in e
        for e in result.annotations("error")
    ), result.annotations("error")
    assert _retagged(pipeline) == [] and pipeline.calls("trivy") == []


def test_27_tag_on_a_merge_that_changed_files_is_not_released(tmp_path: Path) -> None:
    """main held a hotfix develop never had: the merge is not what CI built, so its digest is
    not released under the tag."""
    pipeline = _ci(tmp_path)
    _, develop = _merge_develop_into_main(pipeline, hotfix=True)
    result = _released(pipeline, built=develop)
    assert result.jobs["release"] == "failure"
    assert any("main holds changes no CI run built" in e for e in result.annotations("error"))
    assert _retagged(pipeline) == []


def _squash_develop_into_main(pipeline: Pipeline, hotfix: bool = False) -> tuple[str, str]:
    """A pull request develop -> main merged with "Squash and merge": main (one commit behind
    develop) gets one new commit with develop's files and a single parent. Returns (squash
    commit, develop's head = the pull request's head). ``hotfix``: main held a change develop
    never had, so the squash commit's files differ from the head's."""
    develop = pipeline.sha
    _git(pipeline, "checkout", "--quiet", "-b", "main", "HEAD~1")
    if hotfix:
        pipeline.write_file("HOTFIX.md", "fixed on main only\n")
    _git(pipeline, "merge", "--quiet", "--squash", "develop")
    _git(pipeline, "commit", "--quiet", "--message", "Release (#7)")
    squash = pipeline.sha
    assert _git(pipeline, "rev-list", "--parents", "--max-count=1", squash).count(" ") == 1
    return squash, develop


def _pull_request(pipeline: Pipeline, squash: str, head: str) -> Scenario:
    """What GitHub's API says after the merge: pull request #7 (develop -> main), closed and
    merged into ``squash``, and the git tree of its head (the fake reads both, fakes.fake_gh)."""
    return replace(
        pipeline.scenario,
        github={
            "pulls": [
                {
                    "number": 7,
                    "state": "closed",
                    "merged_at": "2026-12-01T10:00:00Z",
                    "merge_commit_sha": squash,
                    "head": {"ref": "develop", "sha": head},
                    "base": {"ref": "main"},
                },
                # an older, closed and unmerged one naming the same commit is never taken
                {
                    "number": 6,
                    "state": "closed",
                    "merged_at": None,
                    "merge_commit_sha": squash,
                    "head": {"ref": "old", "sha": "6" * 40},
                    "base": {"ref": "main"},
                },
            ],
            "trees": {head: _git(pipeline, "rev-parse", f"{head}^{{tree}}")},
        },
    )


def test_27_tag_on_a_squash_merge_releases_the_pull_requests_built_head(tmp_path: Path) -> None:
    """A squash (or rebase) merge commit was made by GitHub and never built: the tag releases
    the digest CI published for the merged pull request's head, whose files the merge holds
    exactly, and the signature must name that head."""
    pipeline = _ci(tmp_path)
    squash, develop = _squash_develop_into_main(pipeline)
    result = _released(pipeline, built=develop, scenario=_pull_request(pipeline, squash, develop))
    assert result.jobs["release"] == "success", result.annotations("error")
    assert _registry_tags(pipeline) == {f"{IMAGE}:1.4.2": PUBLISHED}
    (verify,) = [c["argv"] for c in pipeline.calls("cosign")]
    assert verify[verify.index("--certificate-github-workflow-sha") + 1] == develop != squash
    assert pipeline.artifacts()["image-digest"]["digest.txt"].strip() == PUBLISHED
    endpoints = [c["endpoint"] for c in pipeline.calls("gh")]
    assert endpoints == ["repos/acme/shop/pulls", f"repos/acme/shop/git/commits/{develop}"]
    assert f"built from {develop} (the head of pull request #7)" in result.job_output("release")


def test_27_tag_on_a_squash_merge_with_files_the_head_never_had_is_refused(
    tmp_path: Path,
) -> None:
    pipeline = _ci(tmp_path)
    squash, develop = _squash_develop_into_main(pipeline, hotfix=True)
    result = _released(pipeline, built=develop, scenario=_pull_request(pipeline, squash, develop))
    assert result.jobs["release"] == "failure"
    assert any(
        f"v1.4.2 points at {squash}, the squash or rebase merge of pull request #7, whose files "
        f"differ from {develop}"
        in e
        and "merge the base branch into the default branch, let CI publish, and merge again" in e
        for e in result.annotations("error")
    ), result.annotations("error")
    assert _retagged(pipeline) == [] and pipeline.calls("trivy") == []


def test_27_tag_on_a_squash_merge_whose_head_was_never_published_is_refused(
    tmp_path: Path,
) -> None:
    pipeline = _ci(tmp_path)
    squash, develop = _squash_develop_into_main(pipeline)
    scenario = _pull_request(pipeline, squash, develop)
    result = _released(pipeline, published=False, built=develop, scenario=scenario)
    assert result.jobs["release"] == "failure"
    assert any(
        f"the merge of pull request #7, whose head {develop} no CI run on the default branch "
        "published" in e
        for e in result.annotations("error")
    ), result.annotations("error")
    assert _retagged(pipeline) == []


def test_27_a_release_whose_digest_now_has_vulnerabilities_is_not_named(tmp_path: Path) -> None:
    """The scan of the registry digest gates the name: Slack hears of it, no tag is added."""
    pipeline = _ci(tmp_path)
    vulnerable = replace(HEALTHY, exit_codes={"trivy": {"image": 1}})
    result = _released(pipeline, scenario=vulnerable)
    assert result.jobs["release"] == "failure"
    assert result.step("release", "Trivy scan of the released digest") == "failure"
    assert result.jobs["security-alert"] == "success"
    assert any("slack.test" in c["url"] for c in pipeline.calls("curl"))
    assert _retagged(pipeline) == []


def test_6_release_tag_on_a_commit_the_default_branch_never_published_fails(
    tmp_path: Path,
) -> None:
    pipeline = _ci(tmp_path)
    result = _released(pipeline, published=False)
    assert result.jobs["release"] == "failure"
    assert any(
        "which no CI run on the default branch published" in e for e in result.annotations("error")
    ), result.annotations("error")
    assert _pushed_tags(pipeline) == [] and _retagged(pipeline) == []


def test_6_release_tag_on_a_digest_not_signed_by_the_default_branch_fails(
    tmp_path: Path,
) -> None:
    pipeline = _ci(tmp_path)
    result = _released(pipeline, signer=SIGNER.replace("refs/heads/develop", "refs/tags/v1.4.2"))
    assert result.jobs["release"] == "failure"
    assert any("not releasing it as v1.4.2" in e for e in result.annotations("error"))
    assert _retagged(pipeline) == []


def test_27_first_release_from_an_empty_registry(tmp_path: Path) -> None:
    """A new GHCR package: nothing in the registry, no layer cache. The first push publishes and
    signs; develop is merged into main and tagged; the tag releases what that push published."""
    pipeline = _ci(tmp_path)
    assert _registry_tags(pipeline) == {}
    first = _push(pipeline)
    assert first.jobs["publish"] == "success", first.annotations("error")
    develop = pipeline.sha
    digest = pipeline.artifacts()["image-digest"]["digest.txt"].strip()
    assert _registry_tags(pipeline)[f"{IMAGE}:sha-{develop}"] == digest
    _merge_develop_into_main(pipeline)
    # Sigstore's truth: what the first run's keyless signature says (fake cosign, tests/pipeline)
    pipeline.change(
        replace(
            pipeline.scenario,
            signatures={digest: {"identity": SIGNER, "issuer": ISSUER, "commit": develop}},
        )
    )
    release = pipeline.run("push", "release.yml", ref=RELEASE_REF, secrets=SECRETS, run_id="2")
    assert release.jobs["release"] == "success", release.annotations("error")
    assert _registry_tags(pipeline)[f"{IMAGE}:1.4.2"] == digest
    assert pipeline.artifacts("2")["image-digest"]["digest.txt"].strip() == digest


def test_27_the_image_crosses_between_jobs_once_and_only_when_published(tmp_path: Path) -> None:
    """build uploads the scanned tarball once, publish downloads it once; a PR run, which
    publishes nothing, uploads no image at all."""
    pipeline = _ci(tmp_path)
    result = _push(pipeline)
    assert result.jobs["publish"] == "success", result.annotations("error")
    images = [c for c in pipeline.calls("download-artifact") if c["name"] == "image"]
    assert len(images) == 1, pipeline.calls("download-artifact")
    assert list(pipeline.artifacts()).count("image") == 1

    pr = _ci(tmp_path / "pr")
    result = pr.run(
        "pull_request", "ci.yml", ref="refs/pull/8/merge", secrets=SECRETS, payload=_pr(pr)
    )
    assert result.jobs["build"] == "success", result.annotations("error")
    assert result.jobs["publish"] == "skipped"
    assert "image" not in pr.artifacts()


def _pr(pipeline: Pipeline) -> dict[str, Any]:
    return {
        "number": 8,
        "pull_request": {
            "number": 8,
            "user": {"login": "octocat"},
            "head": {"ref": "feature", "sha": pipeline.sha, "repo": {"full_name": "acme/shop"}},
            "base": {"ref": "develop", "repo": {"full_name": "acme/shop"}},
        },
    }


def _cache_from(pipeline: Pipeline) -> str:
    (build,) = pipeline.calls("build-push")
    return str(build["inputs"].get("cache-from", ""))


@pytest.mark.parametrize(("trusted", "expected"), [(False, ""), (True, "type=gha")])
def test_27_the_layer_cache_feeds_a_published_image_only_when_config_asks(
    tmp_path: Path, trusted: bool, expected: str
) -> None:
    changes = {"cicd:pipeline.layerCacheForPublish": True} if trusted else {}
    pipeline = _ci(tmp_path, changes=changes)
    result = _push(pipeline)
    assert result.jobs["publish"] == "success", result.annotations("error")
    assert _cache_from(pipeline) == expected
    pr = _ci(tmp_path / "pr", changes=changes)
    pr.run("pull_request", "ci.yml", ref="refs/pull/8/merge", secrets=SECRETS, payload=_pr(pr))
    assert _cache_from(pr) == "type=gha"  # pull requests always read it


def test_27_snyk_runs_its_cli_at_the_pinned_version_with_the_token_from_env(
    tmp_path: Path,
) -> None:
    pipeline = _ci(tmp_path)
    result = _push(pipeline)
    assert result.jobs["snyk"] == "success", result.annotations("error")
    (call,) = pipeline.calls("npx")
    assert call["package"] == f"snyk@{SNYK_CLI_VERSION}" and call["token"] is True
    (snyk,) = pipeline.calls("snyk")
    assert snyk["argv"] == ["test", "--all-projects", "--severity-threshold=high"]
    assert "snyk-token-for-tests" not in json.dumps(pipeline.calls())


def test_6_missing_version_fails_clearly_instead_of_tagging_null(tmp_path: Path) -> None:
    pipeline = _ci(tmp_path)
    manifest = json.loads((pipeline.repo / "package.json").read_text())
    del manifest["version"]
    pipeline.write_file("package.json", json.dumps(manifest, indent=2) + "\n")
    result = _push(pipeline)
    assert result.jobs["build"] == "failure"
    assert result.step("build", "Read the application version") == "failure"
    assert any('package.json has no "version"' in e for e in result.annotations("error"))
    assert result.jobs["publish"] == "skipped"
    assert not any("null" in tag for tag in _pushed_tags(pipeline))


def test_6_release_tag_must_match_the_package_version(tmp_path: Path) -> None:
    pipeline = _ci(tmp_path)
    result = pipeline.run("push", "release.yml", ref="refs/tags/v2.0.0", secrets=SECRETS)
    assert result.jobs["release"] == "failure"
    assert any(
        "does not match package.json version 1.4.2" in e for e in result.annotations("error")
    )
    assert _pushed_tags(pipeline) == []
