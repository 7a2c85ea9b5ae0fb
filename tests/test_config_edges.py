"""Stack config at its edges: values a careless or hostile author could write.

Each case is a small variation of a real stack file, rendered through the one harness; it must
fail with one line naming the file and key path, saying the real fix, and showing any echoed value
escaped. Classes covered: strict numbers, no GitHub expression in any config string, field shapes,
limits GitHub or Kubernetes enforce, names owned by another stack or by the stack itself, keys
nothing reads, plain-text secrets, escaping, and follow-on lines that do not contradict.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from components.config import STACK_VARIABLES
from components.messages import escape
from render.__main__ import main as render_main
from render.tree import github_settings
from tests.conftest import DELETE, config_problems, copy_project, render_variant

SECURE = {"secure": "v1:Zm9yLXRlc3Rz"}


def _only(lines: list[str], expected: str) -> None:
    assert any(expected in line for line in lines), lines


# --------------------------------------------------------------------------------------------
# Strict types: a boolean is not a count or a weight
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "path"),
    [
        ("dev", "cicd:app.replicas"),
        ("dev", "cicd:app.port"),
        ("prod", "cicd:canary.steps[0].weight"),
        ("prod", "cicd:canary.analysis.successRate"),
        ("prod", "cicd:approval.waitTimer"),
        ("dev", "cicd:cluster.quota.pods"),
        ("dev", "cicd:deploy.healthCheckRetries"),
    ],
)
@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_not_a_number(stack: str, path: str, value: bool) -> None:
    lines = config_problems(stack, {path: value})
    _only(lines, f"{path} must be a number, not true/false (got {str(value).lower()})")


@pytest.mark.parametrize("value", ["true", "yes", 1, 0, "false"])
def test_a_switch_is_true_or_false(value: object) -> None:
    lines = config_problems("prod", {"cicd:deploy.enabled": value})
    assert len(lines) == 1, lines
    assert "cicd:deploy.enabled must be true or false (unquoted)" in lines[0]


def test_a_quoted_number_is_a_string() -> None:
    lines = config_problems("dev", {"cicd:app.replicas": "3"})
    assert lines == [
        "Pulumi.dev.yaml: cicd:app.replicas must be a number, not a string (remove the quotes) "
        "(got 3)"
    ]


def test_a_boolean_is_not_a_reviewer_id() -> None:
    lines = config_problems("prod", {"cicd:approval.reviewers.users": [True]})
    _only(lines, "cicd:approval.reviewers.users[0] must be a GitHub login")


# --------------------------------------------------------------------------------------------
# No GitHub expression from config, anywhere
# --------------------------------------------------------------------------------------------

EXPRESSION = "${{ secrets.KUBECONFIG }}"


@pytest.mark.parametrize(
    ("stack", "path", "value"),
    [
        ("dev", "cicd:app.healthPath", "/h${{ github.token }}"),
        ("dev", "cicd:pipeline.dockerfile", EXPRESSION),
        ("dev", "cicd:pipeline.buildContext", EXPRESSION),
        ("dev", "cicd:pipeline.coveragePath", EXPRESSION),
        ("dev", "cicd:pipeline.nodeVersion", EXPRESSION),
        ("dev", "cicd:deploy.nodeVersion", EXPRESSION),
        ("dev", "cicd:pipeline.scanners.trivySeverity", EXPRESSION),
        ("dev", "cicd:pipeline.commands.lint", "echo " + EXPRESSION),
        ("dev", "cicd:deploy.tests.integration", "curl " + EXPRESSION),
        ("staging", "cicd:deploy.tests.performanceScript", EXPRESSION),
        ("dev", "cicd:environment.url", "https://x.example/" + EXPRESSION),
        ("dev", "cicd:pipeline.packages", ["api", EXPRESSION]),
        ("staging", "cicd:approval.branches", [EXPRESSION]),
        ("dev", "cicd:environment.variables", {"LOG_LEVEL": EXPRESSION}),
        ("dev", "cicd:access.viewerGroups", [EXPRESSION]),
        ("dev", "cicd:cluster.kubeContext", EXPRESSION),
    ],
)
def test_no_config_string_carries_an_expression(stack: str, path: str, value: object) -> None:
    lines = config_problems(stack, {path: value})
    assert len(lines) == 1, lines
    assert path in lines[0]
    assert "${{" in lines[0]  # the message names the rule, the value is shown escaped-safe


@pytest.mark.parametrize(
    ("stack", "path", "value", "words"),
    [
        ("dev", "cicd:app.healthPath", "/health z", "must be a URL path"),
        ("dev", "cicd:app.healthPath", "/healthz\nx", "must be a URL path"),
        ("dev", "cicd:app.healthPath", "healthz", "must be a URL path starting with '/'"),
        ("dev", "cicd:pipeline.dockerfile", "../Dockerfile", "must be a path inside"),
        ("dev", "cicd:pipeline.dockerfile", "/etc/passwd", "must be a path inside"),
        ("dev", "cicd:pipeline.coveragePath", "cov erage", "must be a path inside"),
        ("staging", "cicd:deploy.tests.performanceScript", "a/../../x.js", "must be a path"),
        ("dev", "cicd:pipeline.nodeVersion", "lts/*", "must be a Node.js version"),
        ("dev", "cicd:deploy.nodeVersion", "22; rm -rf /", "must be a Node.js version"),
        (
            "dev",
            "cicd:pipeline.scanners.trivySeverity",
            "HIGH, CRITICAL",
            "must be a comma-separated list",
        ),
        ("dev", "cicd:pipeline.scanners.trivySeverity", "SEVERE", "must be a comma-separated list"),
        ("dev", "cicd:environment.url", "https://x.example/a b", "must be an https:// URL"),
        ("dev", "cicd:environment.url", "javascript:alert(1)", "must be an https:// URL"),
        (
            "dev",
            "cicd:pipeline.commands.lint",
            "npm run lint\x1b[2K",
            "must not contain control characters",
        ),
    ],
)
def test_field_shapes(stack: str, path: str, value: object, words: str) -> None:
    lines = config_problems(stack, {path: value})
    assert len(lines) == 1, lines
    assert f"{path} {words}" in lines[0]


# --------------------------------------------------------------------------------------------
# Limits GitHub and Kubernetes enforce, named in the message
# --------------------------------------------------------------------------------------------


def test_matrix_size_is_githubs_256() -> None:
    packages = [f"p{i}" for i in range(257)]
    _only(
        config_problems("dev", {"cicd:pipeline.packages": packages}),
        "has 257 packages; a GitHub matrix runs at most 256 jobs",
    )
    render_variant("dev", {"cicd:pipeline.packages": packages[:256]})  # the limit itself renders


def test_variables_per_environment_is_githubs_100() -> None:
    room = 100 - len(STACK_VARIABLES)
    too_many = {f"V{i}": "x" for i in range(room + 1)}
    lines = config_problems("dev", {"cicd:environment.variables": too_many})
    _only(lines, f"must list at most {room} variables: GitHub allows 100 per environment")
    rendered = render_variant(
        "dev", {"cicd:environment.variables": dict(list(too_many.items())[:room])}
    )
    (variables,) = [e["variables"] for e in github_settings(rendered)["environments"].values()]
    assert len(variables) == 100


@pytest.mark.parametrize(
    ("kind", "value", "words"),
    [
        ("users", "-alice", "must be a GitHub login"),
        ("users", "al--ice", "must be a GitHub login"),
        ("users", "a" * 40, "must be a GitHub login"),
        ("users", "", "must be a GitHub login"),
        ("users", 0, "must be a positive numeric id"),
        ("users", -3, "must be a positive numeric id"),
        ("users", "0", "must be a positive numeric id"),
        ("teams", "Web Shop", "must be a team slug"),
        ("teams", "sre/", "must be a team slug"),
        ("teams", 0, "must be a positive numeric id"),
    ],
)
def test_reviewer_syntax(kind: str, value: object, words: str) -> None:
    lines = config_problems("prod", {f"cicd:approval.reviewers.{kind}": [value]})
    _only(lines, f"cicd:approval.reviewers.{kind}[0] {words}")


def test_reviewer_listed_twice() -> None:
    lines = config_problems("prod", {"cicd:approval.reviewers.users": ["alice", "Alice"]})
    _only(lines, "cicd:approval.reviewers.users[1] lists the same reviewer twice")


def test_valid_reviewers_render() -> None:
    render_variant("prod", {"cicd:approval.reviewers.users": ["alice", "b-o-b", 42, "7"]})


@pytest.mark.parametrize("group", ["", " ops", "ops\n", "x" * 254])
def test_group_names(group: str) -> None:
    lines = config_problems("dev", {"cicd:access.viewerGroups": [group]})
    _only(lines, "cicd:access.viewerGroups[0] must be a group name")


# --------------------------------------------------------------------------------------------
# Names that belong to another stack or to the stack itself
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("stack", "other"), [("staging", "production"), ("dev", "Staging")])
def test_another_stacks_github_environment(stack: str, other: str) -> None:
    lines = config_problems(stack, {"cicd:environment.githubEnvironment": other})
    _only(lines, "cicd:environment.githubEnvironment is the ")
    _only(lines, "each stack owns its own")


@pytest.mark.parametrize(
    "name",
    sorted(
        STACK_VARIABLES | {"DEV_DEPLOY_ENABLED", "STAGING_DEPLOY_ENABLED", "PROD_DEPLOY_ENABLED"}
    ),
)
def test_variables_the_stack_writes_cannot_be_set(name: str) -> None:
    lines = config_problems("staging", {f"cicd:environment.variables.{name}": "x"})
    _only(lines, f"cicd:environment.variables.{name} is written by the stack itself")


def test_stack_variables_constant_matches_what_the_stack_writes() -> None:
    """STACK_VARIABLES must list exactly the variables __main__.py adds to config's own."""
    rendered = render_variant("dev", {"cicd:environment.variables": {}})
    (variables,) = [e["variables"] for e in github_settings(rendered)["environments"].values()]
    assert set(variables) == STACK_VARIABLES


def test_secret_looking_variable_names() -> None:
    lines = config_problems("dev", {"cicd:environment.variables.API_TOKEN": "abc"})
    _only(lines, "cicd:environment.variables.API_TOKEN looks like a secret")
    assert all("abc" not in line for line in lines)


# --------------------------------------------------------------------------------------------
# Keys nothing reads, secrets in plain text
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("cicd2:app", {"name": "x"}, "cicd2:app is in the namespace 'cicd2'"),
        # kubernetes:kubeconfig and kubernetes:context are read (tests/test_runners.py).
        ("kubernetes:namespace", "ctx", "kubernetes:namespace is not read by this program"),
        # github:token and github:baseUrl are read (tests/test_github_provider_config.py).
        ("github:insecure", "true", "github:insecure is not read by this program"),
    ],
)
def test_unread_namespaces_and_keys(key: str, value: object, expected: str) -> None:
    _only(config_problems("dev", {key: value}), expected)


@pytest.mark.parametrize(
    ("stack", "key"),
    [
        ("dev", "github:token"),
        ("dev", "cicd:sonarToken"),  # unread in dev (sonarqube off), still a leak
        ("staging", "cicd:teamsWebhookUrl"),
        ("prod", "other:dbPassword"),
    ],
)
def test_secret_looking_plain_keys_even_when_unread(stack: str, key: str) -> None:
    lines = config_problems(stack, {key: "hunter2-value"})
    _only(lines, f"{key} looks like a secret but is in plain text")
    assert all("hunter2" not in line for line in lines)


def test_pipeline_secret_in_another_stack_says_remove_it() -> None:
    lines = config_problems("staging", {"cicd:snykToken": SECURE})
    assert lines == [
        "Pulumi.staging.yaml: cicd:snykToken is only read by the first stage "
        "(a repository secret of ci.yml): remove it here"
    ]


# --------------------------------------------------------------------------------------------
# Messages: escaped, one line each, no workflow command, no contradiction, the real fix
# --------------------------------------------------------------------------------------------

HOSTILE = ["::error::pwned", "a\nb", "x\r::warning::y", "\x1b[31mred", "##[error]old", "\u2028z"]


@pytest.mark.parametrize("value", HOSTILE)
def test_echoed_values_are_escaped(value: str) -> None:
    lines = config_problems("dev", {"cicd:app.name": value})
    assert len(lines) == 1
    (line,) = lines
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\u2028" not in line
    assert not line.lstrip().startswith("::")
    assert "##[" not in line
    assert line.startswith("Pulumi.dev.yaml: cicd:app.name must be a Kubernetes DNS label")


@pytest.mark.parametrize("value", [*HOSTILE, "  ::x", "\\n", "ok"])
def test_escape_is_one_inert_line(value: str) -> None:
    out = escape(value)
    assert out.splitlines() == [out] or out == ""
    assert not out.lstrip().startswith("::")
    assert "##[" not in out
    assert all(ch.isprintable() for ch in out)


def test_escape_is_unambiguous() -> None:
    assert escape("a\nb") != escape("a\\nb")


def test_a_section_that_is_not_a_mapping_is_one_line() -> None:
    lines = config_problems("dev", {"cicd:app": "webshop"})
    assert lines == ["Pulumi.dev.yaml: cicd:app must be a mapping (got webshop)"]


def test_dev_only_section_in_staging_says_remove_it_not_set_secrets() -> None:
    lines = config_problems(
        "staging",
        {"cicd:pipeline": {"packages": ["api"], "notifications": {"discord": True}}},
    )
    assert lines == [
        "Pulumi.staging.yaml: cicd:pipeline must be removed from the staging stack: "
        "only the first stage sets it (it owns ci.yml)"
    ]


def test_branch_protection_in_staging_says_remove_it() -> None:
    lines = config_problems("staging", {"cicd:branchProtection": {"branch": "develop"}})
    _only(lines, "cicd:branchProtection must be removed with app.branching gitflow")


def test_deleting_a_required_section_is_still_reported() -> None:
    _only(config_problems("dev", {"cicd:registry": DELETE}), "cicd:registry is required")


# --------------------------------------------------------------------------------------------
# Unknown keys name the closest known key, at every level
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "changes", "expected"),
    [
        pytest.param(
            "dev",
            {"cicd:canry": {"enabled": False}},
            "Pulumi.dev.yaml: cicd:canry is not a known key; did you mean canary?",
            id="section",
        ),
        pytest.param(
            "prod",
            {"cicd:canary.stepz": []},
            "Pulumi.prod.yaml: cicd:canary.stepz is not a known key; did you mean steps?",
            id="key of a section",
        ),
        pytest.param(
            "staging",
            {"cicd:canary.enabled": False, "cicd:canary.stepz": []},
            "Pulumi.staging.yaml: cicd:canary.stepz is not a known key; did you mean steps?",
            id="key of a switched-off section",
        ),
        pytest.param(
            "prod",
            {"cicd:canary.analysis.intervl": "1m"},
            "Pulumi.prod.yaml: cicd:canary.analysis.intervl is not a known key; "
            "did you mean interval?",
            id="nested switch",
        ),
        pytest.param(
            "prod",
            {"cicd:canary.steps[0].wieght": 5},
            "Pulumi.prod.yaml: cicd:canary.steps[0].wieght is not a known key; "
            "did you mean weight?",
            id="list item",
        ),
        pytest.param(
            "dev",
            {"cicd:pipeline.commands.unitTests": "npm test"},
            "Pulumi.dev.yaml: cicd:pipeline.commands.unitTests is not a known key; "
            "did you mean unitTest?",
            id="three levels",
        ),
        pytest.param(
            "dev",
            {"cicd2:app": {"name": "x"}},
            "Pulumi.dev.yaml: cicd2:app is in the namespace 'cicd2', which this program does "
            "not read (its settings are under cicd:); did you mean cicd:app?",
            id="namespace",
        ),
        pytest.param(
            "dev",
            {"github:ownr": "acme"},
            "Pulumi.dev.yaml: github:ownr is not read by this program (it reads only baseUrl, "
            "owner, token from github:); did you mean owner?",
            id="key of another namespace",
        ),
        pytest.param(
            "dev",
            {"cicd:registryTokn": SECURE},
            "Pulumi.dev.yaml: cicd:registryTokn is set but nothing reads it (no "
            "environment.secrets entry); did you mean registryToken?",
            id="secret key",
        ),
        pytest.param(
            "dev",
            {"cicd:app.colour": "blue"},
            "Pulumi.dev.yaml: cicd:app.colour is not a known key (known here: branching, "
            "defaultBranch, "
            "healthPath, image, imageTag, name, port, replicas, repository, resources)",
            id="nothing close: the keys there",
        ),
    ],
)
def test_unknown_key_names_the_closest_known_key(
    stack: str, changes: dict[str, object], expected: str
) -> None:
    assert expected in config_problems(stack, changes)


def test_unknown_key_exits_1_with_the_suggestion(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    copy_project(root)
    text = (root / "Pulumi.prod.yaml").read_text()
    assert "\n    steps:\n" in text
    (root / "Pulumi.prod.yaml").write_text(text.replace("\n    steps:\n", "\n    stepz:\n", 1))
    out = tmp_path / "out"
    code, lines = _main(["prod", "--project", str(root), "--out", str(out)])
    assert (code, lines) == (
        1,
        ["Pulumi.prod.yaml: cicd:canary.stepz is not a known key; did you mean steps?"],
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "encryptionsalt: x\nconfigs:\n  cicd:app: {}\n",
            "Pulumi.dev.yaml:2:1: configs: is not a stack file key; did you mean config:?",
            id="configs",
        ),
        pytest.param(
            "Config:\n  cicd:app: {}\n",
            "Pulumi.dev.yaml:1:1: Config: is not a stack file key; did you mean config:?",
            id="Config",
        ),
        pytest.param(
            "encryptionsalt: x\n",
            "Pulumi.dev.yaml:1:1: has no config: mapping; put the stack's settings under config:",
            id="nothing close",
        ),
    ],
)
def test_misspelt_config_names_the_key_found(tmp_path: Path, text: str, expected: str) -> None:
    root = tmp_path / "project"
    root.mkdir()
    copy_project(root)
    (root / "Pulumi.dev.yaml").write_text(text)
    code, lines = _main(["dev", "--project", str(root), "--out", str(tmp_path / "out")])
    assert (code, lines) == (1, [expected])


def _main(argv: list[str]) -> tuple[int, list[str]]:
    """The render's command line in this process (no interpreter start-up): exit code, stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = render_main(argv)
    return code, err.getvalue().splitlines()
