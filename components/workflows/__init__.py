"""The application repository's GitHub Actions workflows, as typed models committed by Pulumi.

- ``model``: typed Workflow/Job/Step/trigger dataclasses rendered to YAML with PyYAML;
- ``pins``: the only actions a workflow may use, pinned to commit SHAs, with their inputs;
- ``spec``: what the generators take (typed values built from config by components/stack.py;
  no module here imports config);
- ``ci``, ``deploy``, ``dependabot``, ``metrics``, ``rescan``: the files themselves;
- ``component``: :class:`PipelineWorkflows`, which commits a stack's files.
"""

from components.workflows.ci import CI_REQUIRED_CHECKS
from components.workflows.component import (
    PipelineWorkflows,
    PipelineWorkflowsArgs,
    workflow_files,
)

__all__ = ["CI_REQUIRED_CHECKS", "PipelineWorkflows", "PipelineWorkflowsArgs", "workflow_files"]
