"""The ``close-deployment`` job: closes a GitHub deployment whose environment job never ran."""

from __future__ import annotations

from components.workflows import custody
from components.workflows.common import (
    run,
)
from components.workflows.deploy.shared import (
    DEPLOY_JOB,
    VERIFY_JOB,
    deployment_status_env,
    enabled,
)
from components.workflows.model import (
    Access,
    Grant,
    Job,
    Scope,
    all_of,
    always,
    eq,
    expr,
    ne,
)
from components.workflows.spec import WorkflowsSpec


def close_unrun_deployment(spec: WorkflowsSpec) -> Job:
    """Close the GitHub deployment when the environment job never ran its steps.

    A rejected approval (or one that timed out) ends ``deploy`` as ``failure`` without running a
    step, so ``failure`` is included: the script only touches a deployment still ``queued``, and
    one the deploy job already finished is left as it is.
    """
    return Job(
        name="close-deployment",
        needs=("verify", "deploy"),
        if_=all_of(
            always(),
            enabled(spec),
            eq(VERIFY_JOB.result, "success"),
            ne(VERIFY_JOB.output_ref("deployment-id"), ""),
            ne(DEPLOY_JOB.result, "success"),
        ),
        timeout_minutes=5,
        permissions=(Grant(Scope.DEPLOYMENTS, Access.WRITE, "close a deployment never run"),),
        steps=(
            run(
                "Close the deployment that never ran",
                custody.NOT_DEPLOYED,
                {**deployment_status_env(), "DEPLOY_RESULT": expr(DEPLOY_JOB.result)},
            ),
        ),
    )
