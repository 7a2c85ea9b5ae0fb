"""The workflow model's guarantees: only the generator writes expressions; comments never touch scripts.

Values from stack config are plain ``str``. These tests build workflows the way a generator that
forgot the rule would, and expect the model to refuse them, whatever field the value lands in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from components.workflows import pins
from components.workflows.model import (
    Access,
    Concurrency,
    Environment,
    Expr,
    Grant,
    Job,
    JobRef,
    Matrix,
    Push,
    Scope,
    Step,
    StepRef,
    Workflow,
    WorkflowRun,
    all_of,
    always,
    any_of,
    cancelled,
    condition,
    eq,
    expr,
    failure,
    ne,
    never,
    not_,
    render,
    same,
    starts_with,
    success,
    template,
)

FROM_CONFIG = "x-${{ secrets.KUBECONFIG }}"  # what a hostile stack value would look like
READ = Grant(Scope.CONTENTS, Access.READ, "check out the repository")


def _step(**kwargs: Any) -> Step:
    return Step(name=kwargs.pop("name", "s"), run=kwargs.pop("run", "true\n"), **kwargs)


def _job(**kwargs: Any) -> Job:
    return Job(
        name=kwargs.pop("name", "j"),
        steps=kwargs.pop("steps", (_step(),)),
        timeout_minutes=5,
        **kwargs,
    )


def _workflow(**kwargs: Any) -> Workflow:
    return Workflow(
        name="W",
        on=kwargs.pop("on", (Push(branches=("develop",)),)),
        jobs=kwargs.pop("jobs", {"j": _job()}),
        concurrency=kwargs.pop("concurrency", Concurrency(group="g", cancel_in_progress=False)),
        **kwargs,
    )


PLACES: dict[str, Callable[[], object]] = {
    "step name": lambda: _step(name=FROM_CONFIG),
    "step env": lambda: _step(env={"A": FROM_CONFIG}),
    "step with": lambda: Step(name="c", uses=pins.CHECKOUT, with_={"ref": FROM_CONFIG}),
    "step if": lambda: _step(if_="github.event_name == 'push'"),
    "job name": lambda: _job(name=FROM_CONFIG),
    "job env": lambda: _job(env={"A": FROM_CONFIG}),
    "job outputs": lambda: _job(outputs={"a": FROM_CONFIG}),
    "job if": lambda: _job(if_="always()"),
    "environment url": lambda: Environment("staging", url=FROM_CONFIG),
    "environment name": lambda: Environment(FROM_CONFIG),
    "matrix value": lambda: Matrix("package", ("api", FROM_CONFIG)),
    "concurrency group": lambda: Concurrency(group=FROM_CONFIG, cancel_in_progress=False),
    "workflow env": lambda: _workflow(env={"IMAGE": FROM_CONFIG}),
    "run script": lambda: _step(run="echo " + FROM_CONFIG),
    "template literal": lambda: template("coverage-", FROM_CONFIG),
    "expr nesting": lambda: expr(FROM_CONFIG),
    "condition with expression": lambda: condition(FROM_CONFIG),
}


@pytest.mark.parametrize("build", PLACES.values(), ids=list(PLACES))
def test_plain_text_never_becomes_an_expression(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match=r"\$\{\{|if: takes a condition"):
        build()


def test_generator_expressions_are_written_as_given() -> None:
    step = Step(
        name=template("test (", expr("matrix.package"), ")"),
        uses=pins.CHECKOUT,
        with_={"ref": expr("github.event.workflow_run.head_sha")},
        if_=condition("always()"),
    )
    workflow = _workflow(jobs={"j": _job(steps=(step,), permissions=(READ,))})
    data = yaml.safe_load(render(workflow))
    rendered = data["jobs"]["j"]["steps"][0]
    assert rendered["name"] == "test (${{ matrix.package }})"
    assert rendered["with"]["ref"] == "${{ github.event.workflow_run.head_sha }}"
    assert rendered["if"] == "always()"
    assert isinstance(expr("github.sha"), Expr)


def test_final_walk_refuses_what_slipped_past_the_constructors() -> None:
    """A mutable mapping changed after construction is caught when rendering."""
    env: dict[str, str] = {"A": "fine"}
    workflow = _workflow(jobs={"j": _job(env=env)})
    env["A"] = FROM_CONFIG
    with pytest.raises(ValueError, match=r"plain text must not contain"):
        render(workflow)


SCRIPT = """\
cat <<'EOF' > example.yml
- uses: actions/checkout@v4
permissions:
  contents: write
workflow_run:
EOF
"""


def test_comments_never_touch_run_scripts() -> None:
    """A script line that looks like a `uses:` or a permission stays exactly as written."""
    checkout = Step(name="c", uses=pins.CHECKOUT, with_={"persist-credentials": False})
    job = _job(steps=(checkout, _step(name="script", run=SCRIPT)), permissions=(READ,))
    trigger = WorkflowRun(workflows=("CI",), branches=("develop",), why_safe="reasons here")
    text = render(_workflow(on=(trigger,), jobs={"j": job}))
    data = yaml.safe_load(text)
    assert data["jobs"]["j"]["steps"][1]["run"] == SCRIPT
    lines = text.splitlines()
    version = pins.BY_REF[pins.CHECKOUT.ref].version
    assert f"        uses: {pins.CHECKOUT.ref} # {version}" in lines
    assert "      contents: read # check out the repository" in lines
    assert "  workflow_run: # zizmor: ignore[dangerous-triggers] reasons here" in lines
    assert sum(" # " in line for line in lines) == 3


def test_a_permission_reason_must_be_one_line() -> None:
    job = _job(permissions=(Grant(Scope.CONTENTS, Access.READ, "a\n- uses: x"),))
    with pytest.raises(ValueError, match="one line"):
        render(_workflow(jobs={"j": job}))


def test_step_and_job_references_are_spelled_once_and_typos_fail() -> None:
    """Issue 27: outputs are read through the step's or job's reference, not a string."""
    wait = StepRef("wait", ("state", "step"))
    assert wait.output("state") == "${{ steps.wait.outputs.state }}"
    assert wait.output_ref("step") == "steps.wait.outputs.step"
    assert wait.outcome == "steps.wait.outcome"
    deploy = JobRef("deploy", ("image",))
    assert deploy.output("image") == "${{ needs.deploy.outputs.image }}"
    assert deploy.result == "needs.deploy.result"
    with pytest.raises(ValueError, match="step 'wait' has no output 'stat'"):
        wait.output("stat")
    with pytest.raises(ValueError, match="job 'deploy' has no output 'images'"):
        deploy.output_ref("images")


def test_conditions_are_built_with_the_fewest_parentheses_that_keep_their_meaning() -> None:
    """&& binds tighter than || in GitHub's expressions: an any_of inside an all_of is
    parenthesized, nothing else is, and nested groups of one operator are written flat."""
    a, b, c = eq("steps.a.outcome", "success"), eq("steps.b.outcome", "failure"), always()
    either = any_of(a, b)
    assert either == "steps.a.outcome == 'success' || steps.b.outcome == 'failure'"
    assert all_of(c, either) == (
        "always() && (steps.a.outcome == 'success' || steps.b.outcome == 'failure')"
    )
    assert all_of(all_of(c, a), b) == (
        "always() && steps.a.outcome == 'success' && steps.b.outcome == 'failure'"
    )
    assert any_of(all_of(c, a), b) == (
        "always() && steps.a.outcome == 'success' || steps.b.outcome == 'failure'"
    )
    assert any_of(either, c) == f"{either} || always()"
    assert all_of(either) == either and any_of(a) == a
    assert not_(either) == f"!({either})"
    assert all_of(any_of(failure(), cancelled()), ne("x.y", "")) == (
        "(failure() || cancelled()) && x.y != ''"
    )
    assert starts_with("github.ref", "refs/tags/v") == "startsWith(github.ref, 'refs/tags/v')"
    assert same("a.b", "github.repository") == "a.b == github.repository"
    assert never() == "false" and success() == "success()"
    with pytest.raises(ValueError, match="at least one"):
        all_of()
    with pytest.raises(ValueError, match="at least one"):
        any_of()


def test_a_literal_in_a_condition_is_quoted_as_github_reads_it() -> None:
    """A value from stack config (a branch name) stays one literal: a quote in it is doubled
    (GitHub's expression syntax), so it cannot end the literal and add an operator."""
    assert eq("github.ref", "refs/heads/it's") == "github.ref == 'refs/heads/it''s'"
    assert eq("github.ref", "x' || true || '") == "github.ref == 'x'' || true || '''"


def test_step_and_job_refs_build_conditions() -> None:
    step = StepRef("set-image")
    assert step.outcome_in("success", "cancelled") == (
        "steps.set-image.outcome == 'success' || steps.set-image.outcome == 'cancelled'"
    )
    job = JobRef("build", ("scan",))
    assert eq(job.output_ref("scan"), "failure") == "needs.build.outputs.scan == 'failure'"
    assert ne(job.result, "skipped") == "needs.build.result != 'skipped'"
    with pytest.raises(ValueError, match="no output"):
        job.output_ref("digest")
