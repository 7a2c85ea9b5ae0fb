"""Run a generated workflow for real: act in host mode, stub actions, fake CLIs, simulated time.

Usage (a test)::

    files = stack_files("dev", {"cicd:pipeline.packages": ["@acme/api"]})  # offline render
    files[".github/workflows/ci.yml"] = without_jobs(files[".github/workflows/ci.yml"], *APP_JOBS)
    pipeline = Pipeline(tmp_path, Scenario(http=(HttpRule(r"discord", (Response(500),)),)))
    pipeline.add_files(files)                                      # committed into the repo
    result = pipeline.run("push", "ci.yml", ref="refs/heads/develop",
                          secrets={"DISCORD_WEBHOOK_URL": "https://discord.test/x"})
    assert result.jobs["ci-ok"] == "success"                       # per-job conclusions
    assert result.step("notify", "Build status") == "success"       # per-step results
    assert result.annotations("warning", "notify")                 # ::warning:: messages
    assert pipeline.calls("curl")[0]["status"] == 500              # what the fakes saw
    pipeline.kube_object("Deployment", "webshop")                  # cluster state afterwards
    pipeline.artifacts("1")                                        # what upload-artifact stored

A deploy scenario passes ``variables`` and ``secrets`` (the repository's: every job sees them),
``environments`` (each GitHub environment's own ``vars`` and ``secrets``, ``KUBECONFIG``...:
only jobs that enter that environment see them, as on GitHub; see :func:`scope_to_jobs`),
``kube_objects`` in the Scenario, and for ``workflow_run`` a ``payload``
with ``workflow_run`` (id of the CI run whose artifacts it reads, event, conclusion, branch); see
tests/pipeline/test_dev_deploy.py.

What one ``Pipeline`` is: a scenario directory holding

- ``repo/``: a throwaway git repository (the sample app of tests/pipeline/sample-app, or empty)
  with the workflows under ``.github/workflows``, remote ``origin`` at ``github.com/OWNER/NAME``
  (act derives ``github.repository`` from it), on the branch of the run's ref;
- ``state/``: ``scenario.json`` (the truth), the simulated ``clock``, ``kube.json`` (the
  cluster), ``calls.jsonl`` (every fake CLI and stub action call), ``artifacts/<run id>/``;
- ``bin/``: wrappers of the fake CLIs (fakes.py), first on PATH for every step;
- ``stubs/``: a composite stub per pinned action (stubs.py), handed to act with
  ``--local-repository owner/name@sha=DIR`` so no ``uses:`` reaches the network.

Several ``run`` calls on one Pipeline share the cluster, clock and artifacts: CI then dev-deploy
(``run_id`` names each run; download-artifact's ``run-id`` input reads another run's artifacts).

Real tools instead of fakes (the ``cluster`` tier): ``Pipeline(..., real=RealTools({"kubectl":
PATH, "kubectl-argo-rollouts": PATH}))`` puts those binaries on the scenario's PATH in place of
the fakes of the same name (tests/cluster/test_workflows.py runs the deploy workflows so against
a real API server and the real Argo Rollouts controller); every other fake stays. ``sleep`` then
also sleeps for real (:attr:`RealTools.sleep_seconds`) so that the real controllers move
between two polls of a wait loop, while the simulated clock still advances by what it asks.
``run(..., cancel_when=CHECK)`` cancels the run as GitHub's "Cancel workflow" does (SIGINT to
act) once ``CHECK()`` holds.

Decisions: act runs with ``-P <label>=-self-hosted`` (steps run on this host, no Docker);
``--json`` logs are parsed for per-job conclusions (``jobResult``) and per-step results; a job
act never starts (its ``if:`` is false) is reported as ``skipped``, as GitHub does.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import yaml
from ruamel.yaml import YAML

from components.workflows import contract
from components.workflows.model import RUNNER
from render.engine import Rendered, render
from render.tree import tree
from tests.pipeline.fakes import FAKE_TOOLS
from tests.pipeline.sample_app import npm_env, warm_npm_cache
from tests.pipeline.stubs import FAKES, write_stub_actions

JsonObj = dict[str, Any]

PIPELINE_DIR: Final = Path(__file__).resolve().parent
SAMPLE_APP: Final = PIPELINE_DIR / "sample-app"
ACT: Final = Path(sys.executable).with_name("act")
REPOSITORY: Final = "acme/shop"
"""``github.repository`` of every run (the stack files' app repository)."""

DEFAULT_CLOCK: Final = 1_800_000_000


@dataclass(frozen=True)
class Response:
    """One HTTP answer of the fake curl (for ``--head``, ``body`` holds the header lines)."""

    status: int = 200
    body: str = ""


@dataclass(frozen=True)
class HttpRule:
    """URLs matching ``pattern`` (re.search) get ``responses`` in order; the last one repeats."""

    pattern: str
    responses: tuple[Response, ...] = (Response(),)


@dataclass(frozen=True)
class Scenario:
    """The truth the fakes tell.

    - ``http``: answers of the fake curl; a URL no rule matches fails as an unknown host (6).
    - ``kube_objects``: the cluster at the start (Deployments, Rollouts with canary steps...).
    - ``exit_codes``: tool -> {substring of the joined argv: exit code}, first match wins,
      e.g. ``{"trivy": {"image": 1}}`` (vulnerabilities found) or ``{"cosign": {"sign": 1}}``.
    - ``flaky``: tool -> {substring: numbers (1-based) of the matching calls that fail with 1},
      e.g. ``{"kubectl": {"get rollout": (4, 5)}}``: the 4th and 5th reads fail, the rest answer
      (a transient API error); kubectl, docker and cosign's verify take both.
    - ``analysis_fails_at_step``: canary step indexes whose analysis fails (the rollout aborts).
    - ``deployment_ready_seconds``: how long a Deployment takes to roll out on the clock;
      ``deployment_fails_for``: images whose Deployment rollout never completes.
    - ``code_scanning``: whether the repository has code scanning (upload-sarif works);
      ``private_repository``: upload-sarif then also needs ``contents``/``actions: read``,
      and attest-build-provenance fails unless ``enterprise_cloud`` (GitHub's plan rule).
    """

    http: tuple[HttpRule, ...] = ()
    kube_objects: tuple[JsonObj, ...] = ()
    exit_codes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    flaky: Mapping[str, Mapping[str, tuple[int, ...]]] = field(default_factory=dict)
    analysis_fails_at_step: tuple[int, ...] = ()
    deployment_ready_seconds: int = 20
    deployment_fails_for: tuple[str, ...] = ()
    code_scanning: bool = True
    private_repository: bool = False
    enterprise_cloud: bool = False
    clock_start: int = DEFAULT_CLOCK
    signatures: Mapping[str, JsonObj] = field(default_factory=dict)
    """digest -> {identity, issuer, commit, attestations}: who really signed (fake cosign)."""
    github: JsonObj = field(default_factory=dict)
    """GitHub's records at the start: ``deployments`` and ``ci_runs`` (fake gh)."""
    registry_tags: Mapping[str, str] = field(default_factory=dict)
    """``image:tag`` -> digest the registry resolves (fake docker buildx imagetools)."""

    def as_json(self) -> JsonObj:
        return {
            "http": [
                {"pattern": r.pattern, "responses": [[x.status, x.body] for x in r.responses]}
                for r in self.http
            ],
            "exit_codes": {
                tool: [{"match": match, "code": code} for match, code in rules.items()]
                for tool, rules in self.exit_codes.items()
            },
            "flaky": {
                tool: [{"match": match, "calls": list(calls)} for match, calls in rules.items()]
                for tool, rules in self.flaky.items()
            },
            "analysis_fails_at_step": list(self.analysis_fails_at_step),
            "deployment_ready_seconds": self.deployment_ready_seconds,
            "deployment_fails_for": list(self.deployment_fails_for),
            "code_scanning": self.code_scanning,
            "signatures": dict(self.signatures),
            "github": self.github,
            "registry_tags": dict(self.registry_tags),
            "private_repository": self.private_repository,
            "enterprise_cloud": self.enterprise_cloud,
        }


@dataclass(frozen=True)
class RealTools:
    """Real binaries a scenario runs instead of the fakes of the same name.

    For the ``cluster`` tier: the real kubectl and the ``kubectl-argo-rollouts`` plugin, with
    the kubeconfig the workflow's own step writes from the environment's ``KUBECONFIG`` secret,
    answer from a real API server; the fake kubectl's simulation (tests/pipeline/fakes.py) is not
    used, and ``Pipeline.kube()`` stays empty. Every other fake (gh, cosign, curl, docker...)
    stays.
    """

    binaries: Mapping[str, str]
    """Command name on PATH -> path of the real binary."""
    sleep_seconds: float = 1.0
    """Each ``sleep`` a step runs still advances the simulated clock by what it asks (``date``
    reads that clock, so a wait loop's deadline counts its polls) and also really sleeps this
    long: a poll every ``sleep_seconds`` of wall time instead of every 10 s."""


@dataclass(frozen=True)
class GitHubEnvironment:
    """A GitHub environment's own variables and secrets."""

    variables: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)


_READ: Final = re.compile(r"\b(vars|secrets)\.([A-Za-z_][A-Za-z0-9_]*)\b")


def _scoped_name(environment: str, name: str) -> str:
    return f"ENV_{re.sub(r'[^A-Za-z0-9]', '_', environment).upper()}__{name}"


def scope_to_jobs(workflow: str, environments: Mapping[str, GitHubEnvironment]) -> str:
    """``workflow`` rewritten so that act, whose ``--var``/``--secret`` are repository-wide,
    answers like GitHub: in a job that enters environment E, outside the job keys GitHub
    evaluates first (contract.BEFORE_ENVIRONMENT), ``vars.X``/``secrets.X`` of E's own values read
    E's (an environment value wins over a repository one of the same name); everywhere else they
    read the repository's, empty when the repository has none.

    Assumed from GitHub's documentation ("Variables": precedence of environment over repository
    level; "Using environments for deployment": a job's environment values are available only
    once the job references it), checked 2026-12 against docs.github.com; act 0.2.89 has no
    environment scope of its own. The renamed values are passed to act as ``ENV_<E>__X``.
    """
    if not environments:
        return workflow
    round_trip = YAML()
    round_trip.preserve_quotes = True
    round_trip.width = 4096
    document = round_trip.load(workflow)
    for job in document.get("jobs", {}).values():
        entered = contract.job_environment(job)
        if entered is None or entered not in environments:
            continue
        own = environments[entered]
        names = {"vars": set(own.variables), "secrets": set(own.secrets)}

        def rename(value: Any, entered: str = entered, names: dict[str, set[str]] = names) -> Any:
            if isinstance(value, str):
                renamed = _READ.sub(
                    lambda m: (
                        f"{m[1]}.{_scoped_name(entered, m[2])}" if m[2] in names[m[1]] else m[0]
                    ),
                    value,
                )
                # ruamel's scalar string types (literal blocks, quoting) survive the rename.
                return value if renamed == value else type(value)(renamed)
            if isinstance(value, dict):
                for key in list(value):
                    value[key] = rename(value[key])
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    value[index] = rename(item)
            return value

        for key in list(job):
            if key not in contract.BEFORE_ENVIRONMENT:
                job[key] = rename(job[key])
    out = io.StringIO()
    round_trip.dump(document, out)
    return out.getvalue()


def without_concurrency_queue(workflow: str) -> str:
    """``workflow`` without ``concurrency.queue`` (workflow or job level), for act only.

    act 0.2.89 does not know the key GitHub added on 2026-05-07 (``queue: max``, docs "Control
    the concurrency of workflows and jobs"): it skips a job that has it, silently (found by
    tests/pipeline/test_dev_deploy.py). act models no concurrency at all, so dropping the key
    changes nothing it would do; tests/pipeline/test_release_edges.py plays GitHub's queue rule
    over the unmodified files.
    """
    if "queue:" not in workflow:
        return workflow
    round_trip = YAML()
    round_trip.preserve_quotes = True
    round_trip.width = 4096
    document = round_trip.load(workflow)
    for holder in (document, *document.get("jobs", {}).values()):
        concurrency = holder.get("concurrency")
        if isinstance(concurrency, dict):
            concurrency.pop("queue", None)
    out = io.StringIO()
    round_trip.dump(document, out)
    return out.getvalue()


@dataclass(frozen=True)
class StepResult:
    job: str
    step: str
    result: str


@dataclass(frozen=True)
class RunResult:
    """What one act run did."""

    returncode: int
    jobs: dict[str, str]
    """Job id -> success | failure | skipped; matrix legs as ``id (value)`` (from the leg's own
    steps) plus ``id`` overall (failure if any leg failed, as GitHub's ``needs.id.result``)."""
    steps: tuple[StepResult, ...]
    output: str
    """Everything the steps printed (raw output), in order."""
    log: str
    """act's own messages (step starts and results, annotations, errors)."""
    notes: tuple[tuple[str, str, str], ...] = ()
    """(level, job, message) of every ``::error::``/``::warning::``/``::notice::`` a step wrote."""
    calls: tuple[JsonObj, ...] = ()
    """The fakes' calls during this run (Pipeline.calls has every run's)."""
    kube: tuple[JsonObj, ...] = ()
    """The cluster's objects when the run ended."""
    artifacts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """This run's artifacts: name -> {relative path: text}."""

    def job_output(self, job: str) -> str:
        return "\n".join(line for line in self.output.splitlines() if line.startswith(f"[{job}]"))

    def annotations(self, level: str, job: str | None = None) -> list[str]:
        """Messages of ``::error::``/``::warning::``/``::notice::`` (level: error | warning |
        notice) the steps wrote, optionally of one job (matrix legs match their id)."""
        return [
            message
            for kind, where, message in self.notes
            if kind == level and (job is None or where == job or where.startswith(f"{job} ("))
        ]

    def step(self, job: str, name: str) -> str:
        """The result of a step whose name starts with ``name`` in ``job`` (first match)."""
        for step in self.steps:
            if step.job == job and step.step.startswith(name):
                return step.result
        raise KeyError(f"no step {name!r} ran in job {job!r}; steps: {self.steps}")


def stack_files(stack: str, changes: Mapping[str, Any] | None = None) -> dict[str, str]:
    """What the stack commits into the application repository: repository path -> text
    (``.github/workflows/*.yml``, ``.github/dependabot.yml``), from the offline render of
    ``stack`` with optional config ``changes`` written as in tests/conftest.py, such as
    ``{"cicd:app.defaultBranch": "trunk"}``."""
    if changes:
        from tests.conftest import variant

        rendered = render(stack, stack_config=variant(stack, changes))
    else:
        rendered = render(stack)
    return {
        ".github" + path.removeprefix("github"): text
        for path, text in tree(rendered).items()
        if path.startswith("github/") and path != "github/settings.yaml"
    }


def stack_workflow(stack: str, filename: str, changes: Mapping[str, Any] | None = None) -> str:
    """One workflow file of ``stack``'s render (see stack_files)."""
    return stack_files(stack, changes)[f".github/workflows/{filename}"]


def github_values(
    stack: str, changes: Mapping[str, Any] | None = None, secrets: Mapping[str, str] | None = None
) -> tuple[dict[str, str], dict[str, GitHubEnvironment]]:
    """The repository variables and the GitHub environment (its variables, plus ``secrets``:
    a render holds none) that ``stack`` writes, for ``Pipeline.run``."""
    from tests.conftest import variant

    return written_by(render(stack, stack_config=variant(stack, changes or {})), secrets)


def written_by(
    rendered: Rendered, secrets: Mapping[str, str] | None = None
) -> tuple[dict[str, str], dict[str, GitHubEnvironment]]:
    """The repository variables and the GitHub environment (its variables, plus ``secrets``)
    that a rendered stack writes, for ``Pipeline.run``."""
    repository: dict[str, str] = {}
    own: dict[str, dict[str, str]] = {}
    for resource in rendered.resources:
        if resource.type == "github:index/actionsVariable:ActionsVariable":
            repository[resource.inputs["variableName"]] = resource.inputs["value"]
        elif resource.type == "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable":
            variables = own.setdefault(resource.inputs["environment"], {})
            variables[resource.inputs["variableName"]] = resource.inputs["value"]
    (environment, variables), *_ = own.items()
    return repository, {environment: GitHubEnvironment(variables, dict(secrets or {}))}


def without_jobs(workflow: str, *job_ids: str) -> str:
    """``workflow`` minus ``job_ids`` (and their names in every ``needs``).

    For scenarios about later jobs (build, scan, publish, notify): dropping the jobs that
    install and test the sample app saves most of a run's time; what remains runs unchanged.
    """
    data = yaml.safe_load(workflow)
    for job_id in job_ids:
        del data["jobs"][job_id]
    for job in data["jobs"].values():
        needs = job.get("needs")
        if isinstance(needs, list):
            job["needs"] = [n for n in needs if n not in job_ids]
        elif needs in job_ids:
            del job["needs"]
    return yaml.safe_dump(data, sort_keys=False, width=10_000)


APP_JOBS: Final = ("validate", "test", "integration")
"""ci.yml's jobs that install and test the sample app (the slow part of a CI run)."""


class Pipeline:
    """One scenario: a repository, a cluster, a clock, and act to run workflows on them."""

    def __init__(
        self,
        workdir: Path,
        scenario: Scenario,
        app: Path | None = SAMPLE_APP,
        real: RealTools | None = None,
    ) -> None:
        self.workdir = workdir
        self.scenario = scenario
        self.real = real
        self.repo = workdir / "repo"
        self.state = workdir / "state"
        self.bin = workdir / "bin"
        for folder in (self.repo, self.state, self.bin):
            folder.mkdir(parents=True, exist_ok=True)
        (self.state / "scenario.json").write_text(json.dumps(scenario.as_json(), indent=2))
        (self.state / "clock").write_text(repr(float(scenario.clock_start)))
        (self.state / "kube.json").write_text(json.dumps(list(scenario.kube_objects), indent=2))
        (self.state / "calls.jsonl").write_text("")
        self._write_fake_bin()
        self.local_repositories = write_stub_actions(workdir / "stubs", self.state)
        if app is not None:
            _copy_app(app, self.repo)
        self._git("init", "--quiet", "--initial-branch=develop")
        self._git("remote", "add", "origin", f"https://github.com/{REPOSITORY}.git")
        self._commit("sample application")

    def change(self, scenario: Scenario) -> None:
        """From the next fake call on, the truth is ``scenario`` (an outage begins between two
        runs); the cluster, the clock and GitHub's records stay as the runs left them."""
        self.scenario = scenario
        (self.state / "scenario.json").write_text(json.dumps(scenario.as_json(), indent=2))

    # -- setup ----------------------------------------------------------------------------
    def _write_fake_bin(self) -> None:
        real = self.real.binaries if self.real else {}
        for tool in FAKE_TOOLS:
            if tool in real:
                continue
            wrapper = self.bin / tool
            fake = f'"{sys.executable}" "{FAKES}" {tool} "{self.state}" "$@"'
            if tool == "sleep" and self.real is not None:
                # the host's sleep, by absolute path: this wrapper is "sleep" on PATH
                host_sleep = shutil.which("sleep") or "/bin/sleep"
                wrapper.write_text(
                    f"#!/bin/sh\n{fake} || exit $?\n"
                    f"exec {shlex.quote(host_sleep)} {self.real.sleep_seconds}\n"
                )
            elif tool == "npx":
                # Only the Snyk CLI is fake (it would reach the network); ``npx tsc`` and any
                # other package run the host's real npx.
                host_npx = shutil.which("npx") or "npx"
                wrapper.write_text(
                    "#!/bin/sh\n"
                    'case "$1 $2" in\n'
                    f'  "--yes snyk@"*) exec {fake} ;;\n'
                    f'  *) exec "{host_npx}" "$@" ;;\n'
                    "esac\n"
                )
            else:
                wrapper.write_text(f"#!/bin/sh\nexec {fake}\n")
            wrapper.chmod(0o755)
        for tool, path in real.items():
            (self.bin / tool).symlink_to(path)

    def _git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
            cwd=self.repo,
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()

    def _commit(self, message: str) -> None:
        self._git("add", "--all")
        self._git("commit", "--quiet", "--allow-empty", "--message", message)

    def add_workflow(self, filename: str, text: str) -> None:
        """Commit ``text`` as .github/workflows/``filename``."""
        target = self.repo / ".github" / "workflows" / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        self._commit(f"workflow {filename}")

    def add_files(self, files: Mapping[str, str]) -> None:
        """Commit several files at once (e.g. everything stack_files returns)."""
        for path, text in files.items():
            target = self.repo / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self._commit("stack files")

    def write_file(self, path: str, text: str) -> None:
        """Commit a file into the repository (e.g. to break the sample app on purpose)."""
        target = self.repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        self._commit(f"change {path}")

    @property
    def sha(self) -> str:
        return self._git("rev-parse", "HEAD")

    # -- running --------------------------------------------------------------------------
    def run(
        self,
        event: str,
        workflow: str,
        *,
        ref: str = "refs/heads/develop",
        payload: Mapping[str, Any] | None = None,
        secrets: Mapping[str, str] | None = None,
        variables: Mapping[str, str] | None = None,
        environments: Mapping[str, GitHubEnvironment] | None = None,
        actor: str = "octocat",
        run_id: str = "1",
        job: str | None = None,
        timeout: float = 900,
        cancel_when: Callable[[], bool] | None = None,
    ) -> RunResult:
        """Run ``workflow`` (a file added with add_workflow) for ``event``; see RunResult.

        ``payload`` is merged over a default event (ref, repository, sender, head commit); for
        a pull_request it should hold ``pull_request`` (number, head.repo.full_name, ...).
        ``secrets``/``variables`` are the repository's, ``environments`` each GitHub
        environment's own (see :func:`scope_to_jobs`). ``cancel_when``: polled while act runs;
        once it returns true, the run is cancelled (SIGINT to act, as GitHub's "Cancel workflow"
        signals the runner), so that the steps guarded by ``cancelled()`` run.
        """
        branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
        if branch is not None and self._git("branch", "--show-current") != branch:
            self._git("checkout", "--quiet", "-B", branch)
        if ref.startswith("refs/tags/"):
            self._git("tag", "--force", ref.removeprefix("refs/tags/"))
        event_data: JsonObj = {
            "ref": ref,
            "repository": {
                "full_name": REPOSITORY,
                "name": REPOSITORY.split("/")[1],
                "default_branch": "develop",
                "private": self.scenario.private_repository,
            },
            "sender": {"login": actor},
            "head_commit": {"id": self.sha, "message": "change"},
            "after": self.sha,
        }
        event_data.update(payload or {})
        event_file = self.workdir / f"event-{run_id}.json"
        event_file.write_text(json.dumps(event_data, indent=2))
        (self.state / "run_id").write_text(run_id)
        workflow_file = self.repo / ".github" / "workflows" / workflow
        committed = workflow_file.read_text()
        (self.state / "workflow").write_text(committed)
        environments = environments or {}
        # What act reads: the committed file with each job's environment scope applied. The
        # committed file itself is restored after the run.
        workflow_file.write_text(scope_to_jobs(without_concurrency_queue(committed), environments))
        command = [
            str(ACT),
            event,
            "--workflows",
            f".github/workflows/{workflow}",
            "-P",
            "ubuntu-latest=-self-hosted",
            "-P",
            f"{RUNNER}=-self-hosted",
            "--json",
            "--actor",
            actor,
            "--eventpath",
            str(event_file),
            "--action-cache-path",
            str(self.workdir / "act-cache"),
            "--action-offline-mode",
            "--env-file",
            "/dev/null",
            "--secret-file",
            "/dev/null",
            "--var-file",
            "/dev/null",
        ]
        for mapping in self.local_repositories:
            command += ["--local-repository", mapping]
        # GitHub gives every run a GITHUB_TOKEN (read-only for forks and Dependabot).
        for key, value in {"GITHUB_TOKEN": "ghs_simulated_run_token", **(secrets or {})}.items():
            command += ["--secret", f"{key}={value}"]
        for key, value in (variables or {}).items():
            command += ["--var", f"{key}={value}"]
        for name, own in environments.items():
            for key, value in own.secrets.items():
                command += ["--secret", f"{_scoped_name(name, key)}={value}"]
            for key, value in own.variables.items():
                command += ["--var", f"{_scoped_name(name, key)}={value}"]
        if job is not None:
            command += ["--job", job]
        env = {**os.environ, **npm_env()}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env.pop("CI", None)
        if self.real is not None:
            env.pop("KUBECONFIG", None)  # only the kubeconfig a step writes, never the host's
        calls_before = len(self.calls())
        try:
            if cancel_when is None:
                done = subprocess.run(
                    command,
                    cwd=self.repo,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    check=False,
                )
            else:
                done = self._run_cancelled(command, env, timeout, cancel_when)
        finally:
            workflow_file.write_text(committed)
        result = _parse(done.returncode, done.stdout, self.repo / ".github/workflows" / workflow)
        (self.workdir / f"act-{run_id}.jsonl").write_text(done.stdout + done.stderr)
        return replace(
            result,
            calls=tuple(self.calls()[calls_before:]),
            kube=tuple(self.kube()),
            artifacts=self.artifacts(run_id),
        )

    def _run_cancelled(
        self,
        command: list[str],
        env: Mapping[str, str],
        timeout: float,
        cancel_when: Callable[[], bool],
    ) -> subprocess.CompletedProcess[str]:
        """act, sent SIGINT once ``cancel_when()`` holds. Output goes to files, not pipes:
        nobody reads a pipe while polling, and a full pipe would stall act."""
        out_path, err_path = self.workdir / "act-cancel.out", self.workdir / "act-cancel.err"
        with out_path.open("w") as out, err_path.open("w") as err:
            act = subprocess.Popen(command, cwd=self.repo, env=dict(env), stdout=out, stderr=err)
            try:
                deadline = time.monotonic() + timeout
                while act.poll() is None and time.monotonic() < deadline:
                    if cancel_when():
                        act.send_signal(signal.SIGINT)
                        break
                    time.sleep(0.2)
                act.wait(timeout=max(1.0, deadline - time.monotonic()))
            finally:
                if act.poll() is None:
                    act.kill()
                    act.wait()
        return subprocess.CompletedProcess(
            command, act.returncode, out_path.read_text(), err_path.read_text()
        )

    # -- what happened --------------------------------------------------------------------
    def calls(self, tool: str | None = None) -> list[JsonObj]:
        """Calls of the fakes in order (``tool``: kubectl, curl, docker, upload-artifact,
        ``action:<owner/name>`` for other stubs...)."""
        lines = (self.state / "calls.jsonl").read_text().splitlines()
        entries = [json.loads(line) for line in lines if line]
        return [e for e in entries if tool is None or e["tool"] == tool]

    def kube(self) -> list[JsonObj]:
        """The cluster's objects now (status as the simulation left it)."""
        objects: list[JsonObj] = json.loads((self.state / "kube.json").read_text())
        return objects

    def kube_object(self, kind: str, name: str) -> JsonObj:
        for obj in self.kube():
            if obj["kind"] == kind and obj["metadata"]["name"] == name:
                return obj
        raise KeyError(f"no {kind} {name}")

    def artifacts(self, run_id: str = "1") -> dict[str, dict[str, str]]:
        """Artifact name -> {relative path: text} stored by the stub upload-artifact."""
        root = self.state / "artifacts" / run_id
        found: dict[str, dict[str, str]] = {}
        for artifact in sorted(root.iterdir()) if root.exists() else []:
            found[artifact.name] = {
                str(p.relative_to(artifact)): p.read_text(errors="replace")
                for p in sorted(artifact.rglob("*"))
                if p.is_file()
            }
        return found

    def clock(self) -> float:
        return float((self.state / "clock").read_text())


def _copy_app(app: Path, repo: Path) -> None:
    """Copy the sample app without build output; CI's own ``npm ci`` installs it per job."""
    ignored = shutil.ignore_patterns("node_modules", "dist", "coverage", "*.tsbuildinfo")
    shutil.copytree(app, repo, dirs_exist_ok=True, ignore=ignored)
    warm_npm_cache(app)


def _job_ids(workflow_file: Path) -> list[str]:
    data = yaml.safe_load(workflow_file.read_text())
    return list(data.get("jobs", {}))


def _parse(returncode: int, stdout: str, workflow_file: Path) -> RunResult:
    legs: dict[str, list[str]] = {}
    steps: list[StepResult] = []
    output: list[str] = []
    log: list[str] = []
    notes: list[tuple[str, str, str]] = []
    for line in stdout.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            log.append(line)
            continue
        job_id = str(entry.get("jobID", ""))
        matrix = entry.get("matrix") or {}
        name = f"{job_id} ({', '.join(str(v) for v in matrix.values())})" if matrix else job_id
        message = str(entry.get("msg", ""))
        if entry.get("raw_output"):
            output.extend(f"[{name}] {text}" for text in message.splitlines())
            continue
        log.append(f"[{name}] {message.rstrip()}")
        if entry.get("command") in ("error", "warning", "notice"):
            notes.append((str(entry["command"]), name, str(entry.get("arg", "")).strip()))
        if "jobResult" in entry:
            legs.setdefault(job_id, []).append(str(entry["jobResult"]))
            if matrix:
                legs[name] = [str(entry["jobResult"])]
        top_level = len(entry.get("stepID") or entry.get("stepid") or []) == 1
        if "stepResult" in entry and entry.get("stage", "Main") == "Main" and top_level:
            steps.append(StepResult(name, str(entry["step"]), str(entry["stepResult"])))
    jobs: dict[str, str] = {}
    for job_id in _job_ids(workflow_file):
        results = legs.get(job_id)
        if not results:
            jobs[job_id] = "skipped"
        elif "failure" in results:
            jobs[job_id] = "failure"
        else:
            jobs[job_id] = results[-1]
    for name, results in legs.items():
        if name not in jobs:
            # act reports the whole matrix job's result on every leg; a leg's own conclusion is
            # whether one of its steps failed.
            failed = any(s.job == name and s.result == "failure" for s in steps)
            jobs[name] = "failure" if failed else results[-1].replace("failure", "success")
    return RunResult(
        returncode, jobs, tuple(steps), "\n".join(output), "\n".join(log), tuple(notes)
    )
