"""The delivery-metrics side of the stacks: cicd:metrics, metrics.yml and the dashboard ConfigMap.

Given the offline render of the dev stack (which enables cicd:metrics) and variations of it:
the metrics workflow is scheduled and dispatchable with a read-only token and runs the committed
copy of the package; the committed package is this project's, runs on its own, and is absent
when metrics are off; the dashboard ConfigMap carries the sidecar label and a dashboard that
queries every gauge the job pushes (and nothing it does not); bad config is one line each.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Final
from urllib.parse import parse_qsl

import httpx
import pytest
import yaml

from components.metrics_dashboard import dashboard_configmap_data
from components.workflows.metrics import build_wheel, wheel_sha256
from delivery_metrics import compute, report
from delivery_metrics.state import STATE_VERSION
from render.engine import PROJECT_DIR
from render.tree import committed_files, tree
from tests.conftest import config_problems, files, render_variant, rendered
from tests.test_delivery_metrics import RecordedGitHub, promtool
from tests.test_platform import platform, platform_variant

T_CONFIGMAP: Final = "kubernetes:core/v1:ConfigMap"
METRICS_FILE: Final = ".github/workflows/metrics.yml"
BLOB_HOST: Final = "pipelinesghubeus22.actions.githubusercontent.com"
PACKAGE_DIR: Final = ".github/delivery-metrics"


def metrics_workflow() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(files("dev")["github/workflows/metrics.yml"])
    return data


def test_metrics_workflow_is_scheduled_and_dispatchable_with_a_read_only_token() -> None:
    workflow = metrics_workflow()
    assert workflow["on"] == {"schedule": [{"cron": "17 6 * * *"}], "workflow_dispatch": {}}
    assert workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"actions": "read", "contents": "read", "deployments": "read"}
    assert "environment" not in job  # no environment: no environment secrets reach it


def test_metrics_job_runs_the_committed_package_with_the_configured_values() -> None:
    (job,) = metrics_workflow()["jobs"].values()
    install = next(
        s
        for s in job["steps"]
        if s["name"] == "Install the verified package and its pinned requirements"
    )
    assert f"{PACKAGE_DIR}/requirements.txt" in install["run"].replace(
        "$PACKAGE_DIR", install["env"]["PACKAGE_DIR"]
    )
    # The wheel's checksum is written into the workflow: a reviewer sees it change.
    assert install["env"]["WHEEL"] == "delivery_metrics-2.0.0-py3-none-any.whl"
    assert install["env"]["WHEEL_SHA256"] == wheel_sha256()
    compute_step = next(s for s in job["steps"] if s["name"] == "Compute delivery metrics")
    env = compute_step["env"]
    assert "PYTHONPATH" not in env  # the installed wheel, not a copy of the sources
    assert env["GITHUB_TOKEN"] == "${{ github.token }}"
    assert env["DEFAULT_BRANCH"] == "develop"
    assert env["ENVIRONMENTS"] == "development staging production"
    assert env["WINDOWS"] == "7 30"
    assert env["PUSHGATEWAY_URL"] == "https://pushgateway.nonprod.acme.example"
    assert "python -m delivery_metrics" in compute_step["run"]
    assert '--summary "$GITHUB_STEP_SUMMARY"' in compute_step["run"]


def test_results_are_kept_in_a_versioned_cache_between_runs() -> None:
    (job,) = metrics_workflow()["jobs"].values()
    names = [s["name"] for s in job["steps"]]
    restore = next(s for s in job["steps"] if s["name"] == "Restore the results of earlier runs")
    assert names.index(restore["name"]) < names.index("Compute delivery metrics")
    assert restore["uses"].startswith("actions/cache@")
    # A unique key per run, so the post step always saves; restored by the versioned prefix:
    # a new STATE_VERSION (delivery_metrics/state.py) starts afresh.
    prefix = f"delivery-metrics-v{STATE_VERSION}-"
    assert restore["with"] == {
        "path": "${{ runner.temp }}/delivery-metrics-state.json",
        "key": prefix + "${{ github.run_id }}",
        "restore-keys": prefix,
    }
    env = next(s for s in job["steps"] if s["name"] == "Compute delivery metrics")["env"]
    assert env["STATE"] == restore["with"]["path"]
    assert env["RATE_LIMIT_RESERVE"] == "300"


def test_gateway_credentials_are_a_repository_secret_only_when_asked_for() -> None:
    env = next(
        s
        for s in metrics_workflow()["jobs"]["metrics"]["steps"]
        if s["name"] == "Compute delivery metrics"
    )["env"]
    assert env["PUSHGATEWAY_AUTH"] == "none" and "PUSHGATEWAY_CREDENTIALS" not in env
    secure = {"secure": "v1:Zm9yLXRlc3Rz"}
    result = render_variant(
        "dev",
        {"cicd:metrics.pushgatewayAuth": "bearer", "cicd:pushgatewayCredentials": secure},
    )
    workflow = yaml.safe_load(tree(result)["github/workflows/metrics.yml"])
    steps = workflow["jobs"]["metrics"]["steps"]
    step = next(s for s in steps if s["name"] == "Compute delivery metrics")
    assert step["env"]["PUSHGATEWAY_AUTH"] == "bearer"
    assert step["env"]["PUSHGATEWAY_CREDENTIALS"] == "${{ secrets.PUSHGATEWAY_CREDENTIALS }}"
    # Read by that one step only.
    assert sum("PUSHGATEWAY_CREDENTIALS" in json.dumps(s) for s in steps) == 1
    settings = yaml.safe_load(tree(result)["github/settings.yaml"])
    assert "PUSHGATEWAY_CREDENTIALS" in settings["repository_secrets"]
    assert "Zm9yLXRlc3Rz" not in json.dumps(settings)


def test_coverage_artifacts_outlive_the_longest_window_and_the_one_before_it() -> None:
    def retention(result: Any) -> int:
        ci = yaml.safe_load(tree(result)["github/workflows/ci.yml"])
        upload = next(s for s in ci["jobs"]["test"]["steps"] if s["name"] == "Upload coverage")
        return int(upload["with"]["retention-days"])

    assert retention(rendered("dev")) == 60  # windows 7 and 30: the 30 days before the last 30
    assert retention(render_variant("dev", {"cicd:metrics.windows": [7, 14]})) == 28
    assert retention(render_variant("dev", {"cicd:metrics.windows": [60]})) == 90  # GitHub's max
    assert retention(render_variant("dev", {"cicd:metrics.enabled": False})) == 14


def _install(tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the workflow's install step on the committed files, in ``tmp_path/repo``.

    ``python`` is a stand-in that runs the real interpreter, except that the requirements are
    not downloaded (no network here: this venv already holds those pins, which
    test_the_lock_the_job_installs_is_hashed_and_agrees_with_the_direct_pins checks) and the
    wheel is installed into ``tmp_path/site`` (``--target``) instead of the venv.
    """
    for path, text in committed_files(rendered("dev")).items():
        if path.startswith(PACKAGE_DIR + "/"):
            target = tmp_path / "repo" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    site = tmp_path / "site"
    bin_dir = tmp_path / "install-bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python").write_text(
        "#!/bin/bash\n"
        'if [ "$1 $2 $3" = "-m pip install" ]; then\n'
        '  case " $* " in *" -r "*) exit 0;; esac\n'
        f'  exec "{sys.executable}" -m pip install --disable-pip-version-check --no-deps '
        f'--no-index --quiet --target "{site}" "${{@: -1}}"\n'
        "fi\n"
        '[ "$1 $2 $3" = "-m pip check" ] && exit 0\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    (bin_dir / "python").chmod(0o755)
    (tmp_path / "runner").mkdir(exist_ok=True)
    return _run_install(tmp_path)


def _run_install(tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The install step on the files as they are in ``tmp_path/repo`` (see :func:`_install`)."""
    (job,) = metrics_workflow()["jobs"].values()
    step = next(s for s in job["steps"] if s["name"].startswith("Install the verified package"))
    env = {
        **step["env"],
        "RUNNER_TEMP": str(tmp_path / "runner"),
        "PATH": f"{tmp_path / 'install-bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", step["run"]],
        env=env,
        cwd=tmp_path / "repo",
        capture_output=True,
        text=True,
        check=False,
    )
    return done, tmp_path / "site"


@pytest.mark.subprocess
def test_the_committed_wheel_is_verified_installed_and_runs_standalone(tmp_path: Path) -> None:
    committed = committed_files(rendered("dev"))
    package = sorted(p for p in committed if p.startswith(PACKAGE_DIR + "/"))
    # One versioned artifact and its lock, not the package's modules one by one.
    assert package == [
        f"{PACKAGE_DIR}/delivery_metrics-2.0.0-py3-none-any.whl.b64",
        f"{PACKAGE_DIR}/requirements.txt",
    ]
    pinned = committed[f"{PACKAGE_DIR}/requirements.txt"]
    assert re.search(r"^githubkit==\d+\.\d+\.\d+ \\$", pinned, re.M)
    assert build_wheel() == build_wheel()  # reproducible: the checksum is stable
    done, site = _install(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ": OK" in done.stdout  # sha256sum --check
    installed = {p.name for p in (site / "delivery_metrics").glob("*.py")}
    assert installed == {p.name for p in (PROJECT_DIR / "delivery_metrics").glob("*.py")}
    ran = subprocess.run(
        [sys.executable, "-c", "import delivery_metrics, sys; print(delivery_metrics.__file__)"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.stdout.startswith(str(site)), ran.stderr


@pytest.mark.subprocess
def test_an_altered_wheel_is_refused_before_anything_is_installed(tmp_path: Path) -> None:
    wheel = tmp_path / "repo" / PACKAGE_DIR / "delivery_metrics-2.0.0-py3-none-any.whl.b64"
    done, site = _install(tmp_path)
    assert done.returncode == 0
    lines = wheel.read_text().splitlines()
    lines[5] = lines[5][:10] + ("A" if lines[5][10] != "A" else "B") + lines[5][11:]
    wheel.write_text("\n".join(lines) + "\n")
    shutil.rmtree(site)
    done, site = _run_install(tmp_path)
    assert done.returncode != 0
    assert "FAILED" in done.stdout + done.stderr
    assert not site.exists()


_REQUIREMENT = re.compile(
    r"^([A-Za-z0-9_.-]+)==(\S+)((?:\s*\\\n\s*--hash=sha256:[0-9a-f]{64})*)", re.M
)


def _pins(path: Path) -> dict[str, tuple[str, int]]:
    """Package -> (version, number of hashes) of a requirements file."""
    return {
        m[1].lower().replace("_", "-"): (m[2], m[3].count("--hash="))
        for m in _REQUIREMENT.finditer(path.read_text())
    }


def test_the_lock_the_job_installs_is_hashed_and_agrees_with_the_direct_pins() -> None:
    direct = _pins(PROJECT_DIR / "delivery_metrics" / "requirements.in")
    lock_text = (PROJECT_DIR / "delivery_metrics" / "requirements.txt").read_text()
    lock = _pins(PROJECT_DIR / "delivery_metrics" / "requirements.txt")
    requirement_lines = [line for line in lock_text.splitlines() if line and line[0].isalpha()]
    assert len(lock) == len(requirement_lines) > len(direct) > 0
    assert all(hashes == 1 for _, hashes in lock.values())
    assert {name: lock[name][0] for name in direct} == {n: v for n, (v, _) in direct.items()}


def test_metrics_off_commits_neither_workflow_nor_package() -> None:
    result = render_variant("dev", {"cicd:metrics.enabled": False})
    paths = set(committed_files(result))
    assert METRICS_FILE not in paths
    assert not any(p.startswith(PACKAGE_DIR) for p in paths)
    assert ".github/workflows/ci.yml" in paths


def test_the_dashboard_is_the_platform_stack_s_not_an_environment_s() -> None:
    # Grafana runs once per cluster: the nonprod platform stack ships the dashboard of the apps
    # it lists, into the cluster's monitoring namespace; no environment stack holds one.
    (config_map,) = platform("nonprod").of_type(T_CONFIGMAP)
    meta = config_map.inputs["metadata"]
    assert meta["labels"]["grafana_dashboard"] == "1"
    assert meta["namespace"] == "monitoring"
    assert meta["annotations"] == {"grafana_folder": "Delivery"}
    assert config_map.parent == {"type": "cicd:monitoring:MetricsDashboard", "name": "webshop"}
    assert config_map.inputs["data"] == dashboard_configmap_data("webshop")
    moved = platform_variant(
        "nonprod", {"cicd-platform:cluster.monitoringNamespace": "observability"}
    )
    (config_map,) = moved.of_type(T_CONFIGMAP)
    assert config_map.inputs["metadata"]["namespace"] == "observability"
    assert platform("prod").of_type(T_CONFIGMAP) == []
    for stack in ("dev", "staging", "prod"):
        assert rendered(stack).of_type(T_CONFIGMAP) == []


def _pushed_gauges() -> set[str]:
    """Every gauge name the job can push (figures with data in every family)."""
    end = datetime(2026, 1, 8, tzinfo=UTC)
    window = compute.Window(7, end)
    figures = compute.DeliveryFigures("development", 7, 1, (1.0,), 1, 1, 1, (1.0,))
    period = compute.Period(
        window, compute.BuildFigures(1, 1, 1), compute.Coverage(1, 1, 2), (figures,)
    )
    fams = report.families([compute.WindowReport(period, period)], end)
    return {fam.name for fam in fams}


def test_dashboard_queries_every_pushed_gauge_and_nothing_else() -> None:
    dashboard = json.loads(dashboard_configmap_data("webshop")["delivery-metrics.json"])
    assert dashboard["uid"] == "delivery-metrics-webshop"
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    queried = {name for e in exprs for name in re.findall(r"\bdelivery_[a-z0-9_]+", e)}
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert set(variables) == {"datasource", "repository", "window", "environment"}
    queried |= {
        name
        for v in variables.values()
        for name in re.findall(r"\bdelivery_[a-z0-9_]+", str(v.get("query", "")))
    }
    pushed = _pushed_gauges()
    assert queried - {"delivery_metrics"} <= pushed  # no panel queries a gauge never pushed
    shown = queried - {"delivery_builds_completed"}
    assert pushed - {"delivery_builds_completed"} <= shown  # every pushed figure has a panel
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


@pytest.mark.parametrize(
    ("stack", "changes", "expected"),
    [
        (
            "staging",
            {"cicd:metrics.enabled": True},
            "Pulumi.staging.yaml: cicd:metrics must only be set in the first stage",
        ),
        (
            "dev",
            {"cicd:metrics.windows": [7, 7]},
            "Pulumi.dev.yaml: cicd:metrics.windows must list distinct window lengths",
        ),
        (
            "dev",
            {"cicd:metrics.windows": [0]},
            "Pulumi.dev.yaml: cicd:metrics.windows[0] must be between 1 and 90 (got 0)",
        ),
        (
            "dev",
            {"cicd:metrics.schedule": "daily"},
            "Pulumi.dev.yaml: cicd:metrics.schedule must be a cron expression of five fields",
        ),
        (
            "dev",
            {"cicd:metrics.grafanaDashboard": {"enabled": True}},
            "Pulumi.dev.yaml: cicd:metrics.grafanaDashboard is not a known key",
        ),
        (
            "dev",
            {"cicd:metrics.pushgatewayUrl": None, "cicd:metrics.pushgatewayAuth": "basic"},
            "Pulumi.dev.yaml: cicd:metrics.pushgatewayAuth needs cicd:metrics.pushgatewayUrl",
        ),
        (
            "dev",
            {"cicd:metrics.pushgatewayAuth": "bearer"},
            "Pulumi.dev.yaml: cicd:pushgatewayCredentials is required "
            "(metrics.pushgatewayAuth is bearer)",
        ),
        (
            "dev",
            {
                "cicd:metrics.pushgatewayUrl": "http://pushgateway.example",
                "cicd:metrics.pushgatewayAuth": "basic",
                "cicd:pushgatewayCredentials": {"secure": "v1:dXNlcjpwYXNz"},
            },
            "Pulumi.dev.yaml: cicd:metrics.pushgatewayUrl must be https:// with pushgatewayAuth "
            "basic: the credentials would cross the network in clear text",
        ),
        (
            "dev",
            {"cicd:metrics.rateLimitReserve": 1000},
            "Pulumi.dev.yaml: cicd:metrics.rateLimitReserve must be between 0 and 900",
        ),
        (
            "dev",
            {"cicd:metrics.pushgatewayUrl": "ftp://gateway"},
            "Pulumi.dev.yaml: cicd:metrics.pushgatewayUrl must be an http(s):// URL",
        ),
    ],
)
def test_bad_metrics_config_is_one_clear_line(
    stack: str, changes: dict[str, Any], expected: str
) -> None:
    lines = config_problems(stack, changes)
    assert any(line.startswith(expected) for line in lines), lines


def _run_compute_step(tmp_path: Path, pushgateway: str) -> list[str]:
    """Run the workflow's compute script with a stand-in ``python`` that records its argv."""
    (job,) = metrics_workflow()["jobs"].values()
    step = next(s for s in job["steps"] if s["name"] == "Compute delivery metrics")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv"
    fake = bin_dir / "python"
    fake.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" > {record}\n')
    fake.chmod(0o755)
    env = {
        **{k: v for k, v in step["env"].items() if "${{" not in v},
        "PUSHGATEWAY_URL": pushgateway,
        "EXPOSITION": str(tmp_path / "m.prom"),
        "GITHUB_REPOSITORY": "acme/webshop",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "PATH": f"{bin_dir}:/usr/bin:/bin",
    }
    subprocess.run(
        ["bash", "-eo", "pipefail", "-c", step["run"]], env=env, check=True, cwd=tmp_path
    )
    return record.read_text().splitlines()


def test_compute_script_passes_every_environment_and_window(tmp_path: Path) -> None:
    argv = _run_compute_step(tmp_path, "https://pushgateway.nonprod.acme.example")
    assert argv[:2] == ["-m", "delivery_metrics"]
    pairs = list(zip(argv[2::2], argv[3::2], strict=True))
    assert [v for k, v in pairs if k == "--environment"] == [
        "development",
        "staging",
        "production",
    ]
    assert [v for k, v in pairs if k == "--window"] == ["7", "30"]
    assert ("--pushgateway", "https://pushgateway.nonprod.acme.example") in pairs
    assert ("--branch", "develop") in pairs and ("--repository", "acme/webshop") in pairs
    assert ("--summary", str(tmp_path / "summary.md")) in pairs


def test_compute_script_without_a_pushgateway_does_not_push(tmp_path: Path) -> None:
    assert "--pushgateway" not in _run_compute_step(tmp_path, "")


class _FakeGitHub(http.server.BaseHTTPRequestHandler):
    """GitHub and a Pushgateway on 127.0.0.1, answering from the recorded responses.

    Absolute URLs in answers (Link headers, the artifact redirect) are rewritten to this
    server. The ``created`` filter of the runs list depends on the clock, so it is matched as
    the recording has it; tests/test_delivery_metrics.py checks its exact value.
    """

    recorded = RecordedGitHub()
    pushes: ClassVar[list[tuple[str, bytes]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    base: ClassVar[str] = ""

    def do_PUT(self) -> None:
        length = int(self.headers["Content-Length"])
        self.pushes.append((self.path, self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        params = [
            (k, ">=2026-09-30T00:00:00Z" if k == "created" else v) for k, v in parse_qsl(query)
        ]
        host = BLOB_HOST if path.startswith("/blob/") else "api.github.com"
        url = httpx.URL(f"https://{host}{path}", params=params)
        answer = self.recorded.handle_request(httpx.Request("GET", url))
        self.send_response(answer.status_code)
        for name in ("content-type", "link", "location"):
            if name in answer.headers:
                value = answer.headers[name].replace("https://api.github.com", self.base)
                self.send_header(name, value.replace(f"https://{BLOB_HOST}", self.base))
        body = answer.read()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.subprocess
def test_the_committed_job_runs_end_to_end_against_recorded_github(tmp_path: Path) -> None:
    """The committed wheel, installed by the workflow's install step, and the workflow's own
    compute script, over HTTP, push a valid exposition."""
    installed, site = _install(tmp_path)
    assert installed.returncode == 0, installed.stderr
    (job,) = metrics_workflow()["jobs"].values()
    step = next(s for s in job["steps"] if s["name"] == "Compute delivery metrics")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # The recording answers the windows that end where its fixtures do (see
    # test_delivery_metrics); the clock is pinned there so the test does not age with the date.
    (bin_dir / "python").write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "$@" --now 2026-11-29T00:00:00Z\n'
    )
    (bin_dir / "python").chmod(0o755)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeGitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    _FakeGitHub.base = base
    _FakeGitHub.pushes.clear()
    try:
        env = {
            **{k: v for k, v in step["env"].items() if "${{" not in v},
            "GITHUB_TOKEN": "t0ken",
            "GITHUB_API_URL": base,
            "PUSHGATEWAY_URL": base,
            "EXPOSITION": str(tmp_path / "m.prom"),
            "STATE": str(tmp_path / "state.json"),
            "PYTHONPATH": str(site),  # where _install put the wheel (site-packages on GitHub)
            "GITHUB_REPOSITORY": "acme/webshop",
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "HOME": str(tmp_path),
        }
        done = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", step["run"]],
            env=env,
            cwd=tmp_path / "repo",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("# Delivery metrics: acme/webshop")
    assert "### production" in summary and "| Build success rate |" in summary
    ((pushed_path, body),) = _FakeGitHub.pushes
    assert pushed_path == "/metrics/job/delivery_metrics/repository@base64/YWNtZS93ZWJzaG9w"
    assert body.decode() == (tmp_path / "m.prom").read_text()
    assert "t0ken" not in done.stdout + done.stderr + summary
    checked = subprocess.run([promtool(), "check", "metrics"], input=body, capture_output=True)
    assert checked.returncode == 0, checked.stdout
