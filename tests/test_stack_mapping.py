"""Settings to component args (components/stack.py) and the names config resolves for it.

Given a stack file (or a variation of it), when its sections are parsed and mapped, then each
component gets what config means: the two meanings of "protected" stay apart, the branch-policy
mode is one value, environment-dependent defaults are resolved once, and components never import
config types (only the mapping does).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pulumi
import pytest

from components import stack
from components.config import (
    SECTIONS,
    BranchPolicy,
    CanaryOff,
    CanaryOn,
    MetricsOff,
    MetricsOn,
    ScannersWithoutSonarQube,
    ScannersWithSonarQube,
    ScrapeDiscovery,
    StackSettings,
    parse_sections,
)
from components.namespace import EgressAllow, EgressPort
from components.workflows import spec as wf
from render.engine import Rendered
from render.tree import T_ENVIRONMENT, T_POLICY
from tests.conftest import config_problems, project_path, render_variant, variant

PLATFORM = stack.PlatformFacts(
    ingress_namespace="ingress-nginx",
    ingress_class_name="nginx",
    monitoring_namespace="monitoring",
    rollouts_namespace="argo-rollouts",
    monitoring=pulumi.Output.from_input(
        stack.MonitoringFacts(ScrapeDiscovery.PROMETHEUS_OPERATOR, 30, {})
    ),
    github_oidc=None,
)


def sections(stack_name: str, changes: dict[str, Any] | None = None) -> StackSettings:
    """The parsed, rule-checked sections of Pulumi.<stack>.yaml with ``changes`` applied."""
    raw = {
        key.removeprefix("cicd:"): value
        for key, value in variant(stack_name, changes or {}).items()
        if key.removeprefix("cicd:") in SECTIONS
    }
    settings, problems = parse_sections(raw, stack_name)
    assert settings is not None and not problems, problems
    return settings


# ---------------------------------------------------------------------------------------------
# Two meanings of "protected": approval (staging, prod) and protection from deletion (prod)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack_name", "approval", "deletion"),
    [("dev", False, False), ("staging", True, False), ("prod", True, True)],
)
def test_approval_and_deletion_protection_are_separate(
    stack_name: str, approval: bool, deletion: bool
) -> None:
    s = sections(stack_name)
    assert s.environment.needs_approval is approval
    assert s.environment.protect_from_deletion is deletion
    assert stack.namespace_args(s, PLATFORM).protect is deletion


def test_protect_overrides_deletion_protection_only() -> None:
    s = sections("staging", {"cicd:environment.protect": True})
    assert s.environment.protect_from_deletion is True
    assert s.environment.name == "staging" and s.environment.needs_approval
    assert stack.namespace_args(s, PLATFORM).protect is True
    # Approval-derived defaults do not move with it.
    assert s.admins_can_bypass_approval is False


# ---------------------------------------------------------------------------------------------
# Branch policy: GitHub's two booleans become one mode, the stack-file keys stay
# ---------------------------------------------------------------------------------------------

PROTECTED_BRANCHES_ONLY = {
    "cicd:approval.protectedBranches": True,
    "cicd:approval.customBranchPolicies": False,
    "cicd:approval.branches": [],
    "cicd:approval.tags": [],
}


def test_branch_policy_mode_from_the_two_keys() -> None:
    assert sections("staging").approval.branch_policy is BranchPolicy.CUSTOM
    assert (
        sections("staging", PROTECTED_BRANCHES_ONLY).approval.branch_policy
        is BranchPolicy.PROTECTED_BRANCHES
    )


def _branch_policy(result: Rendered) -> dict[str, Any]:
    (environment,) = result.of_type(T_ENVIRONMENT)
    policy: dict[str, Any] = environment.inputs["deploymentBranchPolicy"]
    return policy


def test_protected_branches_mode_reaches_github_without_custom_policies() -> None:
    result = render_variant("staging", PROTECTED_BRANCHES_ONLY)
    assert _branch_policy(result) == {"protectedBranches": True, "customBranchPolicies": False}
    assert result.of_type(T_POLICY) == []


def test_custom_mode_reaches_github_with_its_patterns() -> None:
    result = render_variant("staging", {})
    assert _branch_policy(result) == {"protectedBranches": False, "customBranchPolicies": True}
    patterns = sorted(p.inputs["branchPattern"] for p in result.of_type(T_POLICY))
    assert patterns == sorted(sections("staging").approval.branches)


# ---------------------------------------------------------------------------------------------
# Environment-dependent defaults are resolved in config and used as such
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("stack_name", "bypass"), [("dev", True), ("staging", False)])
def test_admins_bypass_defaults_by_environment(stack_name: str, bypass: bool) -> None:
    s = sections(stack_name, {"cicd:approval.canAdminsBypass": None})
    assert s.admins_can_bypass_approval is bypass
    assert (
        stack.deployment_environment_args(_settings(s), _deployed(), PLATFORM).can_admins_bypass
        is bypass
    )


def test_tls_secret_name_defaults_to_app_name() -> None:
    s = sections("staging", {"cicd:ingress.tlsSecretName": None})
    assert stack.ingress_args(s, "ns", PLATFORM).tls_secret_name == f"{s.app.name}-tls"
    named = sections("staging", {"cicd:ingress.tlsSecretName": "custom-cert"})
    assert stack.ingress_args(named, "ns", PLATFORM).tls_secret_name == "custom-cert"


def test_egress_rules_map_to_namespace_allows() -> None:
    rule = {"name": "dns-over-tls", "cidrs": ["10.0.0.0/8"], "ports": [{"port": 853}]}
    udp = {"name": "syslog", "namespaces": ["logging"], "ports": [{"port": 514, "protocol": "UDP"}]}
    s = sections("staging", {"cicd:network.egress": [rule, udp]})
    assert stack.namespace_args(s, PLATFORM).egress == (
        EgressAllow("dns-over-tls", ("10.0.0.0/8",), (), (EgressPort(853, "TCP"),)),
        EgressAllow("syslog", (), ("logging",), (EgressPort(514, "UDP"),)),
    )


def test_canary_off_is_a_deployment_without_canary_args() -> None:
    s = sections("staging", {"cicd:canary.enabled": False})
    assert stack.workload_kind(s) == "Deployment"
    # Without analysis nothing probes or scrapes the app: no extra source, no scrape rule.
    assert stack.namespace_args(s, PLATFORM).extra_ingress_namespaces == ()
    assert stack.namespace_args(s, PLATFORM).metrics_scrape is None


def test_prometheus_reaches_the_app_only_through_the_scrape_rule() -> None:
    # prod's analysis probes the app and reads Prometheus: the controller may reach the app
    # port, the monitoring namespace only the metrics port, once.
    args = stack.namespace_args(sections("prod"), PLATFORM)
    assert args.extra_ingress_namespaces == ("argo-rollouts",)
    assert args.metrics_scrape == ("monitoring", 8080)
    moved = stack.namespace_args(
        sections("prod", {"cicd:canary.analysis.metricsPort": 9100}), PLATFORM
    )
    assert moved.metrics_scrape == ("monitoring", 9100)


# ---------------------------------------------------------------------------------------------
# Components never import config types; the config module is a package
# ---------------------------------------------------------------------------------------------

# The two programs' mappings: components/stack.py (environments), platform_stack.py (platform).
MAY_IMPORT_CONFIG = {"stack.py", "platform_stack.py"}


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, ``from components import config`` as ``components.config``."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            modules |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return modules


def _imports_config(path: Path) -> bool:
    return any(
        module == "components.config" or module.startswith("components.config.")
        for module in _imported_modules(path)
    )


def test_components_do_not_import_config() -> None:
    """Every module under components/ (workflow generators included), except the config package
    itself and the two mappings."""
    folder = project_path("components")
    modules = [
        p
        for p in sorted(folder.rglob("*.py"))
        if p.parent.name != "config" and p.relative_to(folder).as_posix() not in MAY_IMPORT_CONFIG
    ]
    assert (
        folder / "workflows" / "deploy" / "verify.py" in modules
    )  # the walk reaches the generators
    offenders = [p.relative_to(folder).as_posix() for p in modules if _imports_config(p)]
    assert offenders == []
    assert not (folder / "config.py").exists()
    assert _imports_config(folder / "stack.py")  # the check sees an import where there is one


# Helpers for the mapping functions that need more than the sections.


def _settings(s: StackSettings) -> Any:
    """A stand-in for config.Settings without Outputs: the mapping reads only these fields."""
    return SimpleNamespace(
        sections=s,
        secrets=SimpleNamespace(environment=defaultdict(lambda: "value")),
        github_owner="acme",
        stack_file=f"Pulumi.{s.environment.name}.yaml",
    )


def _deployed() -> stack.DeployedFacts:
    return stack.DeployedFacts(
        namespace="ns", workload_name="app", workload_kind="Deployment", kubeconfig=None
    )


# ---------------------------------------------------------------------------------------------
# A switch and its settings are one type: canary on/off, SonarQube with its URL
# ---------------------------------------------------------------------------------------------


def test_canary_is_on_with_its_plan_or_off_without_one() -> None:
    on = sections("staging")
    assert isinstance(on.canary, CanaryOn) and on.canary.steps
    off = sections("staging", {"cicd:canary.enabled": False})
    assert isinstance(off.canary, CanaryOff)
    assert not hasattr(off.canary, "steps")  # nothing can read a switched-off plan by mistake
    # what was written is validated and set aside, and the warning names it
    assert off.canary.ignored_keys() == ("analysis", "nginx", "steps")
    dev = sections("dev").canary
    assert isinstance(dev, CanaryOff) and dev.ignored_keys() == ()


def test_canary_settings_are_validated_even_while_off() -> None:
    lines = config_problems(
        "staging", {"cicd:canary.enabled": False, "cicd:canary.steps[0].weight": 150}
    )
    assert lines == [
        "Pulumi.staging.yaml: cicd:canary.steps[0].weight must be between 1 and 100 (got 150)"
    ]
    typo = config_problems("staging", {"cicd:canary.enabled": False, "cicd:canary.stepz": []})
    assert typo == [
        "Pulumi.staging.yaml: cicd:canary.stepz is not a known key; did you mean steps?"
    ]


@pytest.mark.parametrize("value", ["true", "yes", 1])
def test_canary_switch_is_true_or_false(value: object) -> None:
    lines = config_problems("staging", {"cicd:canary.enabled": value})
    assert len(lines) == 1, lines
    assert "cicd:canary.enabled must be true or false (unquoted)" in lines[0]


def test_a_switched_off_canary_warns_which_settings_it_ignores() -> None:
    warned = render_variant("staging", {"cicd:canary.enabled": False})
    assert (
        "cicd:canary: analysis, nginx, steps ignored while enabled is false (kept for when it is "
        "switched back on)"
    ) in warned.warnings


def test_sonarqube_on_carries_its_url_into_the_workflow_spec() -> None:
    url = "https://sonar.acme.example"
    on = sections(
        "dev",
        {"cicd:pipeline.scanners.sonarqube": True, "cicd:pipeline.scanners.sonarqubeHostUrl": url},
    )
    assert on.pipeline is not None
    assert isinstance(on.pipeline.scanners, ScannersWithSonarQube)
    spec = stack.workflows_args(on).spec
    assert spec.pipeline is not None and spec.pipeline.scanners.sonarqube == wf.SonarQube(url)
    off = sections("dev", {"cicd:pipeline.scanners.sonarqubeHostUrl": url})
    assert off.pipeline is not None
    assert isinstance(off.pipeline.scanners, ScannersWithoutSonarQube)
    assert off.pipeline.scanners.ignored_keys() == ("sonarqubeHostUrl",)
    off_spec = stack.workflows_args(off).spec
    assert off_spec.pipeline is not None and off_spec.pipeline.scanners.sonarqube is None


def test_sonarqube_on_without_its_url_is_refused_by_the_type() -> None:
    lines = config_problems("dev", {"cicd:pipeline.scanners.sonarqube": True})
    assert lines == ["Pulumi.dev.yaml: cicd:pipeline.scanners.sonarqubeHostUrl is required"]


def test_workflow_spec_of_each_stack() -> None:
    """Only dev owns the shared pipeline; staging's scan and install defaults come from config."""
    dev, staging = (stack.workflows_args(sections(name)).spec for name in ("dev", "staging"))
    assert dev.pipeline is not None and staging.pipeline is None
    assert staging.deploy.install_command == "npm ci"
    assert staging.deploy.trivy_severity == "CRITICAL,HIGH"
    assert staging.deploy.release_plan == sections("staging").release_plan


def test_metrics_off_commits_no_workflow_and_names_what_it_ignores() -> None:
    on = sections("dev", {"cicd:metrics.enabled": True})
    assert isinstance(on.metrics, MetricsOn)
    assert stack.workflows_args(on).spec.metrics is not None
    off = sections("dev", {"cicd:metrics.enabled": False, "cicd:metrics.windows": [1, 7]})
    assert isinstance(off.metrics, MetricsOff)
    assert off.metrics.ignored_keys() == ("pushgatewayUrl", "schedule", "windows")
    assert stack.workflows_args(off).spec.metrics is None
    # rules on the values hold while off too, and the section stays dev-only either way
    assert config_problems(
        "dev", {"cicd:metrics.enabled": False, "cicd:metrics.windows": [7, 7]}
    ) == ["Pulumi.dev.yaml: cicd:metrics.windows must list distinct window lengths (got (7, 7))"]
    assert config_problems("staging", {"cicd:metrics.enabled": False}) == [
        "Pulumi.staging.yaml: cicd:metrics must only be set in the first stage (no "
        "environment.promotesFrom), which owns the shared files"
    ]


def test_canary_analysis_is_on_by_default_and_off_only_when_switched_off() -> None:
    on = sections("prod")
    assert on.analysis_on is not None  # prod's file does not name analysis.enabled: on
    off = sections("prod", {"cicd:canary.analysis.enabled": False})
    assert off.analysis_on is None and not off.analysis_probes_app
    canary = stack.canary_args(off, SimpleNamespace(), PLATFORM)  # type: ignore[arg-type]
    assert canary is not None and canary.analysis is None
    interval = sections(
        "prod", {"cicd:canary.analysis.enabled": False, "cicd:canary.analysis.interval": "1m"}
    )
    assert (
        "cicd:canary.analysis: interval, prometheusAddress ignored while enabled is false "
        "(kept for when it is switched back on)"
    ) in render_variant(
        "prod", {"cicd:canary.analysis.enabled": False, "cicd:canary.analysis.interval": "1m"}
    ).warnings
    assert interval.analysis_on is None
