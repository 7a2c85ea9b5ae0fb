"""A project copy whose prod platform stack runs Actions Runner Controller, and prod rendered
with ``cluster.access: inCluster`` on it (tests/test_runners.py, tests/test_pipeline_config.py).

The shipped platform stacks run no ARC (it is off by default and they render unchanged), so an
inCluster render needs a platform stack that does: the StackReference renders the platform
stack of the project folder the environment stack is rendered from.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Final

import yaml

from render.engine import Rendered, render
from tests.conftest import copy_project, variant

ARC_PROD: Final = {
    "enabled": True,
    "githubConfigUrl": "https://github.com/acme/webshop",
    "githubConfigSecret": "arc-github-app",
    "runnerImage": "ghcr.io/acme/deploy-runner:2.334.0",
    "scaleSets": [{"name": "webshop-prod", "environment": "prod"}],
}
"""cicd-platform:runners of the prod cluster in the inCluster renders."""


@cache
def arc_project() -> Path:
    """A project copy whose prod platform stack runs ARC with scale set webshop-prod (one per
    test process, removed at its exit)."""
    root = Path(tempfile.mkdtemp(prefix="arc-project-"))
    atexit.register(shutil.rmtree, root, True)
    copy_project(root)
    platform_file = root / "platform" / "Pulumi.prod.yaml"
    document = yaml.safe_load(platform_file.read_text())
    document["config"]["cicd-platform:runners"] = ARC_PROD
    platform_file.write_text(yaml.safe_dump(document, sort_keys=False))
    return root


IN_CLUSTER: Final = {
    "cicd:cluster.access": "inCluster",
    "cicd:deploy.runner": {"scaleSet": "webshop-prod"},
}


@cache
def in_cluster_render() -> Rendered:
    """prod with cluster.access inCluster on scale set webshop-prod (cached; read-only)."""
    return render("prod", arc_project(), stack_config=variant("prod", IN_CLUSTER))
