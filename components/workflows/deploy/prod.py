"""prod-deploy.yml: inert until the switch is on; verified, approved, canary, health, rollback."""

from __future__ import annotations

from components.workflows.common import (
    image_env,
)
from components.workflows.contract import (
    deploy_switch,
    var_name,
)
from components.workflows.deploy.deploy import release_jobs
from components.workflows.deploy.shared import RUN_CONCURRENCY, dispatch
from components.workflows.model import (
    Workflow,
)
from components.workflows.spec import WorkflowsSpec


def prod_workflow(spec: WorkflowsSpec) -> Workflow:
    """prod-deploy.yml: inert until the switch is on; verified, approved, canary, health, rollback."""
    environment = spec.deploy.github_environment
    switch = var_name(deploy_switch(spec.stage.name))
    return Workflow(
        name=f"Deploy to {environment}",
        header=f"Prepared, not activated: every job is guarded by {switch} == 'true'\n"
        f"(cicd:deploy.enabled of the {spec.stage.name} stack), and the job in the environment "
        "checks it again.",
        on=(dispatch(),),
        concurrency=RUN_CONCURRENCY,
        env=image_env(spec),
        jobs=release_jobs(spec),
    )
