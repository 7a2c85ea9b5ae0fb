"""The ``verify`` job of stage-deploy.yml and prod-deploy.yml: outside the environment, one
digest, verified, in promotion order, recorded, shown to the reviewer (custody.py holds the
scripts)."""

from __future__ import annotations

from typing import Final

from components.vocabulary import DEFAULT_GITHUB_ENVIRONMENT
from components.vocabulary import Environment as Stage
from components.workflows import ci, custody
from components.workflows.common import (
    run,
)
from components.workflows.custody import RECORD_STEP, RELEASE_STEP, SIGNATURE_STEP
from components.workflows.deploy.shared import ACTION_INPUT, RELEASE_INPUT, dispatch_guard, enabled
from components.workflows.model import (
    Access,
    Grant,
    Job,
    Scope,
    all_of,
    expr,
)
from components.workflows.spec import WorkflowsSpec

PREVIOUS_ENVIRONMENT: Final = {Stage.STAGING: Stage.DEV, Stage.PROD: Stage.STAGING}
"""Promotion order: the environment whose acceptance each dispatched one requires (one rule for
every pair, custody.checks; issue 26 makes the chain configurable, this table is its input)."""


def verify_job(spec: WorkflowsSpec) -> Job:
    """Outside the environment: one digest, verified, in order, recorded, shown to the reviewer."""
    stage = spec.stage
    previous = PREVIOUS_ENVIRONMENT[stage]
    branch = spec.default_branch
    refs = spec.deploy.dispatch_refs
    guard = all_of(enabled(spec), dispatch_guard(refs)) if refs is not None else enabled(spec)
    return Job(
        name="verify",
        if_=guard,
        timeout_minutes=15,
        permissions=(
            Grant(Scope.DEPLOYMENTS, Access.WRITE, "read the promotion record, open a deployment"),
            Grant(Scope.PACKAGES, Access.READ, "resolve a tag and read signatures from ghcr.io"),
        ),
        outputs={
            "image": RELEASE_STEP.output("image"),
            "digest": RELEASE_STEP.output("digest"),
            "commit": SIGNATURE_STEP.output("commit"),
            "deployment-id": RECORD_STEP.output("deployment-id"),
        },
        steps=(
            custody.resolve(RELEASE_INPUT, ACTION_INPUT),
            *custody.checks(
                branch,
                _github_environment_of(previous),
                ACTION_INPUT,
            ),
            run(
                "Open the GitHub deployment and summarise for the reviewer",
                custody.RECORD,
                {
                    "GH_TOKEN": expr("github.token"),
                    "ACTION": expr(f"inputs.{ACTION_INPUT}"),
                    "COMMIT": SIGNATURE_STEP.output("commit"),
                    "DIGEST": RELEASE_STEP.output("digest"),
                    "IMAGE_REF": RELEASE_STEP.output("image"),
                    "ENVIRONMENT": spec.deploy.github_environment,
                    "PRODUCTION": "true" if stage is Stage.PROD else "false",
                    "SIGNER_IDENTITY": custody.signer_identity(branch),
                    "RUN_URL": ci.RUN_URL,
                },
                id=RECORD_STEP.id,
            ),
        ),
    )


def _github_environment_of(stage: Stage) -> str:
    """GitHub environment of an earlier stage. Its stack is not readable from this one, so the
    promotion check assumes the default name (docs/security.md: keep environment.githubEnvironment
    unset in dev and staging, or the next stage's check looks in the wrong place)."""
    return DEFAULT_GITHUB_ENVIRONMENT[stage]
