"""The deploy workflows: one per stage of the chain (dev-deploy.yml, stage-deploy.yml,
prod-deploy.yml, <stage>-deploy.yml), shaped by the stage's place and tier (:func:`deploy_workflow`).

Each stack commits only its own deploy workflow. Shared shape: the job in the stack's GitHub
environment (which holds the KUBECONFIG secret and the NAMESPACE, WORKLOAD_NAME, WORKLOAD_KIND,
APP_URL, IMAGE and DEPLOY_ENABLED variables) changes the cluster; jobs outside the environment
never see the kubeconfig. Only that job is serialized (:func:`environment_concurrency`: a group
per environment on the job, ``cancel-in-progress: false``, ``queue: max``), so runs queue for the
environment, not for their verification, and no pending run is cancelled by a newer one (GitHub's
default keeps one pending per group: docs/release-edges.md); a run a person cancels aborts the
canary it started. An abort of staging or prod queues in a group of its own, so it never waits
behind a release that is pending approval.

The deploy switch (one contract for every stage): every job is guarded by the repository variable
``components.chain.deploy_switch_variable(stage)`` (``DEV_DEPLOY_ENABLED``, ...), written by the stack
from ``cicd:deploy.enabled``; the environment job checks ``DEPLOY_ENABLED`` again first thing.
``deploy.enabled: false`` in any stack: its workflow changes nothing.

Timing comes from the release plan (components/release.py), the same object the Rollout's steps
come from: the wait is the plan's longest segment between manual pauses, the job timeout is
checked against it in config.

- the first stage (dev): ``workflow_run`` of CI on develop, only for a successful push run; the digest is read from
  the run's ``image-digest`` artifact and validated; a candidate that is not newer (by commit
  order) than what dev runs is skipped, green, with a notice (scripts/newer_than_running.sh);
  then integration tests, the ``accept`` job's verdict and a Discord note.
- later stages (staging, prod): ``workflow_dispatch`` with ``release`` (digest or tag) and ``action``
  (deploy | promote | abort | retry). A ``verify`` job outside the environment resolves the
  release to one digest, verifies its cosign signature and SBOM attestation against CI's
  identity, checks that the stage it promotes from (``StageSpec.previous_github_environment``) accepted it, in
  GitHub's deployment records, and opens a GitHub deployment with a summary for the reviewer
  (components/workflows/custody.py); an abort skips the registry, cosign and the promotion order
  (custody.checks). A retry runs an aborted canary of the same digest again
  (docs/release-edges.md). Then the environment job: record the stable
  digest from the stable ReplicaSet, set the image (or promote / abort a paused canary), wait,
  and check health. A canary that fails before full promotion, or a cancelled run, is aborted;
  a health check that fails after full promotion rolls back to the recorded stable digest inside
  the same approved job (``rollbackWindow`` makes that a fast-track, no steps, no second
  approval). A manual pause is reported and the run ends; a person promotes it with a new run.
- tier production (prod) also only deploys from main or v* tags (and the environment's branch policy says so).

Where each concern lives:

- ``shared.py``: dispatch inputs, the deploy switch, the concurrency of the environment job, the
  tests job, the deployment-status env;
- ``verify.py``: the verify job and the promotion order (the previous stage's environment);
- ``deploy.py``: the job in the environment (deploy, promote, abort, retry, rollback, final
  status) and the verify/deploy/close trio every dispatched workflow has;
- ``accept.py``: acceptance (k6 and security-scan steps, the accept job's verdict);
- ``close.py``: closing a deployment whose environment job never ran;
- ``dev.py``, ``staging.py``, ``prod.py``: each workflow assembled from those.
"""

from __future__ import annotations

from components.workflows.deploy.accept import K6_SUMMARY
from components.workflows.deploy.dev import dev_workflow
from components.workflows.deploy.prod import prod_workflow
from components.workflows.deploy.shared import dispatch_guard
from components.workflows.deploy.staging import staging_workflow
from components.workflows.model import Workflow
from components.workflows.spec import WorkflowsSpec


def deploy_workflow(spec: WorkflowsSpec) -> Workflow:
    """The stack's deploy workflow, by its place in the chain: the first stage deploys after
    green CI (dev's shape), a later stage of tier production is dispatched and paused (prod's
    shape), any other later stage is dispatched and accepted (staging's shape). File names are
    components.chain.deploy_workflow_file."""
    if spec.stage.is_first:
        return dev_workflow(spec)
    if spec.stage.is_production:
        return prod_workflow(spec)
    return staging_workflow(spec)


__all__ = [
    "K6_SUMMARY",
    "deploy_workflow",
    "dev_workflow",
    "dispatch_guard",
    "prod_workflow",
    "staging_workflow",
]
