"""This repository's own pipeline (.github/workflows, docs/pipeline.md).

Given the workflow files (their stage jobs and stack lists written from the root stack files'
chain by ``python -m render repo-workflows``, render/repo_pipeline.py), then: they are what the
stack files say; the real validators (actionlint, zizmor pedantic,
the GitHub workflow schema) accept them; every action is pinned to a checked SHA with its release
in a comment and gets only inputs it declares; and pull requests from forks can never reach a
secret or a write token while running their own code.
"""

from __future__ import annotations

import itertools
import re
from functools import cache
from typing import Any, Final

import yaml

from components.chain import Chain
from render.engine import PROJECT_DIR
from render.project import project_config
from render.repo_pipeline import workflows
from tests import validators
from tests.conftest import EXAMPLES_DIR, project_path

WORKFLOWS_DIR: Final = project_path(".github", "workflows")


@cache
def root_chain() -> Chain:
    """The chain of the root stack files: the stages the repository's own pipeline applies."""
    project = project_config(PROJECT_DIR)
    assert project.lines == () and project.chain is not None, project.lines
    return project.chain


STACKS: Final = root_chain().names


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Copied from the team's checked list of pins (action-pins.yaml, kept outside this repository):
# repository -> (commit, release, inputs declared in the action's action.yml at that commit).
PINS: Final[dict[str, tuple[str, str, frozenset[str]]]] = {
    "actions/checkout": (
        "3d3c42e5aac5ba805825da76410c181273ba90b1",
        "v7.0.1",
        _names(
            "repository ref token ssh-key ssh-known-hosts ssh-strict ssh-user "
            "persist-credentials path clean filter sparse-checkout sparse-checkout-cone-mode "
            "fetch-depth fetch-tags show-progress lfs submodules set-safe-directory "
            "github-server-url allow-unsafe-pr-checkout"
        ),
    ),
    "actions/setup-python": (
        "5fda3b95a4ea91299a34e894583c3862153e4b97",
        "v7.0.0",
        _names(
            "python-version python-version-file cache architecture check-latest token "
            "cache-dependency-path update-environment allow-prereleases freethreaded "
            "pip-version"
        ),
    ),
    "actions/setup-node": (
        "820762786026740c76f36085b0efc47a31fe5020",
        "v7.0.0",
        _names(
            "node-version node-version-file architecture check-latest registry-url scope token "
            "cache package-manager-cache cache-dependency-path mirror mirror-token"
        ),
    ),
    "actions/cache": (
        "27d5ce7f107fe9357f9df03efb73ab90386fccae",
        "v5.0.5",
        _names(
            "path key restore-keys upload-chunk-size enableCrossOsArchive fail-on-cache-miss "
            "lookup-only save-always"
        ),
    ),
    "actions/upload-artifact": (
        "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f",
        "v7.0.0",
        _names(
            "name path if-no-files-found retention-days compression-level overwrite "
            "include-hidden-files archive"
        ),
    ),
    "actions/download-artifact": (
        "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c",
        "v8.0.1",
        _names(
            "name artifact-ids path pattern merge-multiple github-token repository run-id "
            "skip-decompress digest-mismatch"
        ),
    ),
    "pulumi/actions": (
        "8e5e406f4007fca908480587cb9893c07090f58d",
        "v7.0.0",
        _names(
            "command stack-name pulumi-version pulumi-version-file work-dir comment-on-pr "
            "comment-on-pr-number comment-on-summary github-token cloud-url secrets-provider "
            "parallel message config-map expect-no-changes diff replace exclude "
            "exclude-dependents target target-dependents policyPacks policyPackConfigs refresh "
            "upsert remove edit-pr-comment color exclude-protected plan suppress-outputs "
            "suppress-progress always-include-summary continue-on-error log-verbosity log-flow "
            "debug"
        ),
    ),
    "marocchino/sticky-pull-request-comment": (
        "5770ad5eb8f42dd2c4f34da00c94c5381e49af88",
        "v3.0.5",
        _names(
            "header append recreate delete only_create only_update hide_details hide "
            "hide_and_recreate hide_classify message path ignore_empty skip_unchanged "
            "follow_symbolic_links number number_force owner repo GITHUB_TOKEN"
        ),
    ),
}

# The only write scopes in the pipeline, each where it is needed.
WRITE_SCOPES: Final = {
    ("pull-request.yml", "preview"): {"pull-requests"},  # pulumi/actions comments the preview
    ("pr-comment.yml", "comment"): {"pull-requests"},  # the sticky render-diff comment
    ("drift.yml", "alert"): {"issues"},  # drift issues
}
SAME_REPO: Final = "github.event.pull_request.head.repo.full_name == github.repository"


@cache
def texts() -> dict[str, str]:
    found = {p.name: p.read_text() for p in sorted(WORKFLOWS_DIR.glob("*.y*ml"))}
    assert found, f"no workflow files in {WORKFLOWS_DIR}"
    return found


@cache
def parsed(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(texts()[name])
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The ``on:`` mapping (YAML 1.1 reads the bare key ``on`` as True)."""
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    assert isinstance(on, dict)
    return on


def jobs(name: str) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = parsed(name)["jobs"]
    return result


def steps_using(name: str, repository: str) -> list[dict[str, Any]]:
    return [
        step
        for job in jobs(name).values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).split("@")[0] == repository
    ]


def repo_paths() -> dict[str, str]:
    return {f".github/workflows/{name}": text for name, text in texts().items()}


def uses_secrets(job: dict[str, Any]) -> bool:
    """Whether the job reads a secret other than the run's own GITHUB_TOKEN."""
    return bool(re.search(r"secrets\.(?!GITHUB_TOKEN\b)\w+", yaml.safe_dump(job)))


# --------------------------------------------------------------------------------------------
# Validators: one call per tool over all files
# --------------------------------------------------------------------------------------------


def test_the_pipeline_has_its_workflows() -> None:
    names = set(texts())
    assert {"pull-request.yml", "pr-comment.yml", "deploy.yml", "drift.yml"} <= names


def test_actionlint_reports_nothing() -> None:
    assert validators.actionlint(repo_paths()) == []


def test_zizmor_pedantic_reports_nothing() -> None:
    assert validators.zizmor(repo_paths()) == []


def test_workflow_schema_accepts_every_file() -> None:
    assert validators.workflow_schema(repo_paths()) == []


# --------------------------------------------------------------------------------------------
# Pins and action inputs
# --------------------------------------------------------------------------------------------


def test_every_uses_is_a_pinned_sha_with_its_release_comment() -> None:
    uses_lines = [
        (name, line.strip())
        for name, text in texts().items()
        for line in text.splitlines()
        if re.match(r"\s*(- )?uses:", line)
    ]
    assert uses_lines
    for name, line in uses_lines:
        match = re.fullmatch(r"(- )?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (\S+)", line)
        assert match, f"{name}: {line!r} is not `uses: owner/repo@<sha> # <release>`"
        repository, sha, release = match.group(2, 3, 4)
        assert repository in PINS, f"{name}: {repository} is not in the checked pin list"
        assert (sha, release) == PINS[repository][:2], f"{name}: {line!r}"


def test_steps_pass_only_inputs_the_action_declares() -> None:
    for name in texts():
        for job in jobs(name).values():
            for step in job.get("steps", []):
                if "uses" not in step:
                    continue
                declared = PINS[step["uses"].split("@")[0]][2]
                unknown = set(step.get("with") or {}) - declared
                assert not unknown, f"{name}: {step['uses']} has no input {sorted(unknown)}"


# --------------------------------------------------------------------------------------------
# Permissions, credentials, forks
# --------------------------------------------------------------------------------------------


def test_workflows_grant_nothing_by_default_and_jobs_only_what_they_need() -> None:
    for name in texts():
        assert parsed(name).get("permissions") == {}, f"{name}: top-level permissions not {{}}"
        for job_id, job in jobs(name).items():
            permissions = job.get("permissions")
            assert isinstance(permissions, dict), f"{name}/{job_id}: no explicit permissions"
            assert set(permissions.values()) <= {"read", "write", "none"}
            writes = {scope for scope, level in permissions.items() if level == "write"}
            assert writes == WRITE_SCOPES.get((name, job_id), set()), f"{name}/{job_id}: {writes}"
            assert "id-token" not in permissions


def test_checkouts_never_keep_credentials() -> None:
    checkouts = [s for name in texts() for s in steps_using(name, "actions/checkout")]
    assert checkouts
    for step in checkouts:
        assert (step.get("with") or {}).get("persist-credentials") is False, step


def test_every_job_has_a_timeout_and_every_workflow_a_concurrency_group() -> None:
    for name in texts():
        assert parsed(name).get("concurrency", {}).get("group"), name
        for job_id, job in jobs(name).items():
            assert 0 < job.get("timeout-minutes", 0) <= 60, f"{name}/{job_id}"


def test_no_workflow_runs_pull_request_code_with_base_privileges() -> None:
    for name in texts():
        assert "pull_request_target" not in triggers(parsed(name)), name


def test_secrets_live_in_environments_and_never_reach_fork_pull_requests() -> None:
    with_secrets = 0
    for name in texts():
        runs_on_pull_requests = "pull_request" in triggers(parsed(name))
        for job_id, job in jobs(name).items():
            if not uses_secrets(job):
                continue
            with_secrets += 1
            assert job.get("environment"), f"{name}/{job_id} reads secrets outside an environment"
            if runs_on_pull_requests:
                assert SAME_REPO in str(job.get("if", "")), f"{name}/{job_id} runs for forks"
    assert with_secrets


def test_render_diff_runs_for_every_pull_request_without_secrets() -> None:
    job = jobs("pull-request.yml")["render-diff"]
    assert "if" not in job and not uses_secrets(job) and "environment" not in job
    script = "\n".join(str(step.get("run", "")) for step in job["steps"])
    assert re.search(r"for stack in \$STACKS; do", script)
    (listed,) = [s["env"]["STACKS"] for s in job["steps"] if "STACKS" in s.get("env", {})]
    assert listed.split() == list(STACKS)
    assert re.search(r'python -m render "\$stack" --diff "\$BASE_SHA"', script)
    assert "GITHUB_STEP_SUMMARY" in script
    checkout = steps_using("pull-request.yml", "actions/checkout")
    assert any(s["with"].get("fetch-depth") == 0 for s in checkout)  # the base commit is there
    uploads = [
        s["with"]["name"] for s in steps_using("pull-request.yml", "actions/upload-artifact")
    ]
    assert uploads == ["render-diff"]


def test_comment_workflow_only_handles_the_artifact_as_data() -> None:
    workflow = parsed("pr-comment.yml")
    on = triggers(workflow)
    assert set(on) == {"workflow_run"}
    assert on["workflow_run"]["workflows"] == [parsed("pull-request.yml")["name"]]
    assert steps_using("pr-comment.yml", "actions/checkout") == []
    used = {
        step["uses"].split("@")[0]
        for job in jobs("pr-comment.yml").values()
        for step in job["steps"]
        if "uses" in step
    }
    assert used == {"actions/download-artifact", "marocchino/sticky-pull-request-comment"}
    (download,) = steps_using("pr-comment.yml", "actions/download-artifact")
    assert download["with"]["name"] == "render-diff"
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    scripts = [
        str(step["run"])
        for job in jobs("pr-comment.yml").values()
        for step in job["steps"]
        if "run" in step
    ]
    for script in scripts:
        # Nothing from the artifact is executed or sourced, and no expression is expanded in the
        # script itself (values come in through env).
        assert not re.search(r"\b(python3?|node|bash|sh|source|eval)\b|\.\s+\S+\.sh|\$\{\{", script)
    checks = "\n".join(scripts)
    assert "^[1-9][0-9]{0,9}$" in checks  # the PR number is a number ...
    assert '"$pr_head" != "$HEAD_SHA"' in checks  # ... of the PR whose head the run tested
    limit = int(jobs("pr-comment.yml")["comment"]["steps"][1]["env"]["LIMIT"])
    assert limit < 65_536


def test_pull_request_preview_covers_every_stack_with_the_policy_pack() -> None:
    job = jobs("pull-request.yml")["preview"]
    assert job["strategy"]["matrix"]["stack"] == list(STACKS)
    assert job["environment"] == "infra-${{ matrix.stack }}-preview"
    (step,) = steps_using("pull-request.yml", "pulumi/actions")
    assert step["with"]["command"] == "preview"
    assert step["with"]["diff"] is True and step["with"]["comment-on-pr"] is True
    assert step["with"]["policyPacks"] == "policy"


def test_merges_deploy_dev_then_gate_staging_and_prod_behind_a_preview() -> None:
    deploy = jobs("deploy.yml")
    assert set(triggers(parsed("deploy.yml"))) == {"push"}
    assert triggers(parsed("deploy.yml"))["push"]["branches"] == ["main"]
    ups = {
        job_id: job
        for job_id, job in deploy.items()
        if any(
            s["with"]["command"] == "up"
            for s in job["steps"]
            if "pulumi/actions" in str(s.get("uses"))
        )
    }
    by_stack = {
        next(
            s["with"]["stack-name"] for s in job["steps"] if "pulumi/actions" in str(s.get("uses"))
        ): job_id
        for job_id, job in ups.items()
    }
    assert set(by_stack) == set(STACKS)
    assert deploy[by_stack[STACKS[0]]]["environment"] == f"infra-{STACKS[0]}"
    assert deploy[by_stack[STACKS[0]]]["needs"] == "test"
    for before, stack in itertools.pairwise(STACKS):
        job = deploy[by_stack[stack]]
        assert job["environment"] == f"infra-{stack}"  # requires reviewers (docs/pipeline.md)
        (preview_id,) = [job["needs"]] if isinstance(job["needs"], str) else job["needs"]
        preview = deploy[preview_id]
        (step,) = [s for s in preview["steps"] if "pulumi/actions" in str(s.get("uses"))]
        assert (step["with"]["command"], step["with"]["stack-name"]) == ("preview", stack)
        assert "GITHUB_STEP_SUMMARY" in yaml.safe_dump(preview)
        assert preview["needs"] == by_stack[before]
    for step in steps_using("deploy.yml", "pulumi/actions"):
        assert step["with"]["policyPacks"] == "policy"
    assert parsed("deploy.yml")["concurrency"]["cancel-in-progress"] is False


def test_drift_detection_previews_every_stack_and_alerts() -> None:
    drift = parsed("drift.yml")
    assert "schedule" in triggers(drift)
    (step,) = steps_using("drift.yml", "pulumi/actions")
    assert step["with"]["command"] == "preview"  # a preview never writes the stack's state
    assert step["with"]["refresh"] is True and step["with"]["expect-no-changes"] is True
    assert jobs("drift.yml")["drift"]["strategy"]["matrix"]["stack"] == list(STACKS)
    alert = jobs("drift.yml")["alert"]
    assert alert["needs"] == "drift" and "cancelled()" in alert["if"]
    assert "gh issue create" in yaml.safe_dump(alert)


def environments_and_secrets() -> set[str]:
    """Every environment (matrix expanded) and secret name the workflows use."""
    names: set[str] = set()
    for name in texts():
        for job in jobs(name).values():
            environment = job.get("environment")
            if environment:
                names.update(
                    str(environment).replace("${{ matrix.stack }}", stack) for stack in STACKS
                )
        names.update(re.findall(r"secrets\.(\w+)", texts()[name]))
    return names - {"GITHUB_TOKEN"}


def test_docs_name_every_environment_and_secret_the_workflows_use() -> None:
    needed = environments_and_secrets()
    assert {"infra-staging", "infra-prod", "PULUMI_ACCESS_TOKEN"} <= needed
    docs = project_path("docs", "pipeline.md").read_text()
    missing = sorted(n for n in needed if not re.search(rf"`{re.escape(n)}`", docs))
    assert not missing, f"docs/pipeline.md does not explain {missing}"


# --------------------------------------------------------------------------------------------
# The stage jobs and stack lists follow the stack files
# --------------------------------------------------------------------------------------------


def test_the_committed_workflows_are_what_the_stack_files_say() -> None:
    """Fails when a stack file was added, dropped or re-chained without running
    ``python -m render repo-workflows``."""
    for path, text in workflows(root_chain()).items():
        assert path.read_text() == text, (
            f"{path.name} is stale: run python -m render repo-workflows"
        )


def test_a_two_stage_chain_gives_dev_then_a_gated_prod_and_stays_lint_clean() -> None:
    chain = project_config(EXAMPLES_DIR / "payments").chain
    assert chain is not None and chain.names == ("dev", "prod")
    generated = {f".github/workflows/{p.name}": t for p, t in workflows(chain).items()}
    deploy = yaml.safe_load(generated[".github/workflows/deploy.yml"])["jobs"]
    assert list(deploy) == ["test", "up-dev", "preview-prod", "up-prod"]
    assert (deploy["up-dev"]["needs"], deploy["preview-prod"]["needs"]) == ("test", "up-dev")
    assert deploy["up-prod"]["needs"] == "preview-prod"
    assert deploy["up-prod"]["environment"] == "infra-prod"
    drift = yaml.safe_load(generated[".github/workflows/drift.yml"])
    assert drift["jobs"]["drift"]["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert "staging" not in generated[".github/workflows/pull-request.yml"]
    assert validators.actionlint(generated) == []
