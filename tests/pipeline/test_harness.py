"""The harness itself: act runs steps on this host with the stubs, the fakes and the clock.

A small hand-written workflow (no sample app) drives each piece once, so a harness regression
shows up here and not as a puzzling scenario failure. The CI and deploy scenarios build on it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.workflows import pins
from tests.pipeline.harness import HttpRule, Pipeline, Response, Scenario

pytestmark = pytest.mark.pipeline

ROLLOUT: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "web", "namespace": "shop", "generation": 1},
    "spec": {
        "replicas": 2,
        "template": {"spec": {"containers": [{"name": "web", "image": "ghcr.io/acme/web:1"}]}},
        "strategy": {
            "canary": {
                "steps": [
                    {"setWeight": 20},
                    {"pause": {"duration": "60s"}},
                    {"analysis": {"templates": [{"templateName": "health"}]}},
                    {"pause": {}},
                    {"setWeight": 100},
                ]
            }
        },
    },
}

_ROLL = """\
kubectl -n shop patch rollout web --type=json \\
  --patch '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"ghcr.io/acme/web:2"}]'
for _ in $(seq 1 40); do
  phase="$(kubectl -n shop get rollout web -o jsonpath='{.status.phase}')"
  step="$(kubectl -n shop get rollout web -o jsonpath='{.status.currentStepIndex}')"
  echo "phase=$phase step=$step at $(date +%s)"
  case "$phase" in
    Healthy) exit 0 ;;
    Degraded) exit 3 ;;
    Paused) if [ "$step" = 3 ]; then kubectl -n shop argo rollouts promote web; fi ;;
  esac
  sleep 10
done
exit 4
"""


def _job(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"runs-on": "ubuntu-latest", **extra, "steps": list(steps)}


def _workflow() -> str:
    jobs = {
        "clock": _job(
            {
                "run": 'start="$(date +%s)"; sleep 600; sleep 5m\n'
                'echo "waited $(( $(date +%s) - start ))"\n'
            }
        ),
        "http": _job(
            {"run": "curl --fail --silent --show-error https://app.test/healthz || echo rc=$?\n"},
            {
                "run": "echo \"code=$(curl --silent --output /dev/null -w '%{http_code}' "
                'https://app.test/healthz)"\n'
            },
            {"run": "curl --silent --retry 3 https://flaky.test/ && echo flaky-ok\n"},
        ),
        # After clock: the clock job's long sleeps move the shared clock, and run in parallel
        # they could carry the canary past a timed pause before the rollout job looks at it.
        "rollout": _job(
            {"run": _ROLL},
            {"run": "kubectl -n shop argo rollouts status web --timeout 60s\n"},
            needs="clock",
        ),
        "upload": _job(
            {"run": "mkdir -p out/sub && echo one > out/a.txt && echo two > out/sub/b.txt\n"},
            {
                "uses": pins.UPLOAD_ARTIFACT.ref,
                "with": {"name": "out", "path": "out/", "if-no-files-found": "error"},
            },
        ),
        "download": _job(
            {"uses": pins.DOWNLOAD_ARTIFACT.ref, "with": {"name": "out", "path": "got"}},
            {"run": "cat got/a.txt got/sub/b.txt\n"},
            needs="upload",
        ),
        "missing": _job(
            {
                "uses": pins.UPLOAD_ARTIFACT.ref,
                "with": {"name": "none", "path": "nothing-here/", "if-no-files-found": "error"},
            },
        ),
        "after-missing": _job({"run": "echo never\n"}, needs="missing"),
    }
    return yaml.safe_dump({"name": "harness", "on": "push", "jobs": jobs}, sort_keys=False)


def _pipeline(tmp_path: Path, scenario: Scenario) -> Pipeline:
    pipeline = Pipeline(tmp_path, scenario, app=None)
    pipeline.add_workflow("harness.yml", _workflow())
    return pipeline


SCENARIO = Scenario(
    http=(
        HttpRule(r"^https://app\.test/", (Response(500, "boom"),)),
        HttpRule(r"^https://flaky\.test/", (Response(503), Response(503), Response(200, "ok"))),
    ),
    kube_objects=(ROLLOUT,),
)


def test_harness_runs_stubs_fakes_and_clock(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path, SCENARIO)
    started = time.monotonic()
    result = pipeline.run("push", "harness.yml")
    assert time.monotonic() - started < 60, "simulated waits must not take real time"

    assert result.jobs == {
        "clock": "success",
        "http": "success",
        "rollout": "success",
        "upload": "success",
        "download": "success",
        "missing": "failure",
        "after-missing": "skipped",
    }
    # sleep advanced the shared clock, date read it (parallel jobs' sleeps add up on it)
    waited = re.search(r"\[clock\] waited ([0-9]+)", result.output)
    assert waited is not None and 900 <= int(waited[1]) < 1500
    # curl: --fail turned the 500 into exit 22; -w printed the code; --retry got past two 503s
    assert "[http] rc=22" in result.output
    assert "[http] code=500" in result.output
    assert "flaky-ok" in result.job_output("http")
    assert [c["status"] for c in pipeline.calls("curl") if "flaky" in c["url"]] == [503, 503, 200]
    # the canary walked its steps on the clock, paused for a person at step 3, then finished
    rollout = pipeline.kube_object("Rollout", "web")
    assert rollout["status"]["phase"] == "Healthy"
    assert rollout["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/acme/web:2"
    assert "phase=Paused step=1" in result.output
    assert "phase=Paused step=3" in result.output
    assert any("promote" in c["argv"] for c in pipeline.calls("kubectl"))
    assert "[rollout] Healthy" in result.output
    # artifacts keep the folder layout, download reads them back; nothing matched = failure
    assert pipeline.artifacts()["out"] == {"a.txt": "one\n", "sub/b.txt": "two\n"}
    assert result.artifacts == pipeline.artifacts()
    assert result.calls == tuple(pipeline.calls())
    assert result.kube == tuple(pipeline.kube())
    assert "[download] one" in result.output
    assert any("No files were found" in line for line in result.annotations("error"))


def test_failed_analysis_aborts_the_canary(tmp_path: Path) -> None:
    scenario = Scenario(kube_objects=(ROLLOUT,), analysis_fails_at_step=(2,))
    pipeline = _pipeline(tmp_path, scenario)
    result = pipeline.run("push", "harness.yml")
    assert result.jobs["rollout"] == "failure"
    status = pipeline.kube_object("Rollout", "web")["status"]
    assert status["phase"] == "Degraded"
    assert status["abort"] is True
    assert status["canary"]["weights"]["canary"]["weight"] == 0


_SCOPED = """\
name: scope
on: workflow_dispatch
jobs:
  outside:
    runs-on: ubuntu-latest
    steps:
      - run: echo "outside url=[$URL] kube=[${#KUBE}] switch=[$SWITCH]"
        env:
          URL: ${{ vars.APP_URL }}
          KUBE: ${{ secrets.KUBECONFIG }}
          SWITCH: ${{ vars.SWITCH }}
  inside:
    if: vars.APP_URL == ''
    runs-on: ubuntu-latest
    environment: {name: staging, url: "${{ vars.APP_URL }}"}
    steps:
      - run: echo "inside url=[$URL] kube=[${#KUBE}] switch=[$SWITCH]"
        env:
          URL: ${{ vars.APP_URL }}
          KUBE: ${{ secrets.KUBECONFIG }}
          SWITCH: ${{ vars.SWITCH }}
"""


def test_environment_values_reach_only_the_jobs_that_enter_the_environment(
    tmp_path: Path,
) -> None:
    """As on GitHub: a job outside the environment, and the job's own ``if:``, see the
    environment's values as empty (here the if: holds because APP_URL is empty there); the job
    that enters it sees them; repository values reach both."""
    from tests.pipeline.harness import GitHubEnvironment

    pipeline = Pipeline(tmp_path, Scenario(), app=None)
    pipeline.add_workflow("scope.yml", _SCOPED)
    result = pipeline.run(
        "workflow_dispatch",
        "scope.yml",
        variables={"SWITCH": "on"},
        environments={
            "staging": GitHubEnvironment(
                {"APP_URL": "https://stage.test"}, {"KUBECONFIG": "twelve-chars"}
            )
        },
    )
    assert result.jobs == {"outside": "success", "inside": "success"}, result.log
    assert "outside url=[] kube=[0] switch=[on]" in result.job_output("outside")
    assert "inside url=[https://stage.test] kube=[12] switch=[on]" in result.job_output("inside")
    assert (pipeline.repo / ".github/workflows/scope.yml").read_text() == _SCOPED
