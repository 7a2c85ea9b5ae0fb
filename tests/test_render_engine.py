"""The render engine's contract with the Pulumi SDK, and its refusal of duplicate URNs."""

from __future__ import annotations

from pathlib import Path

import pytest

from render.engine import DuplicateUrnError, private_sdk, render
from tests.conftest import config_problems, render_variant

# Pulumi's property wire format (sdk/go/common/resource/properties.go): the render tells secrets
# and resource references apart by these markers. If an SDK upgrade changes them, this fails.
WIRE_FORMAT = {
    "sig_key": "4dabf18193072939515e22adb298388d",
    "secret_sig": "1b47061264138c4ac30d75fd1eb44270",
    "resource_sig": "5cf8f73096256a8f31e491e813e4eb8e",
    "unknown": "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
}


def test_private_sdk_surface_is_what_the_render_expects() -> None:
    """The one place with private SDK names: importable, callable, and the protocol's values."""
    sdk = private_sdk()  # ImportError/AttributeError here names what the SDK renamed
    assert {name: getattr(sdk, name) for name in WIRE_FORMAT} == WIRE_FORMAT
    assert callable(sdk.run_program)
    assert callable(sdk.reset_root)
    assert callable(sdk.reset_pending)


def test_engine_imports_no_private_sdk_name_outside_private_sdk() -> None:
    """Private SDK modules are imported only inside private_sdk(), never at module level."""
    source = (Path(__file__).parent.parent / "render" / "engine.py").read_text()
    private = ("pulumi.runtime.sync_await", "pulumi.runtime.stack", "import rpc", "settings")
    imports = [line for line in source.splitlines() if "import" in line and "pulumi" in line]
    top_level = [line for line in imports if not line.startswith(" ")]
    assert not [line for line in top_level if any(name in line for name in private)]
    assert "rpc._special" not in source.partition("def private_sdk")[0]


PROGRAM = """\
import pulumi

class Thing(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("test:index:Thing", name, None, None)
        self.register_outputs({})

Thing("same")
Thing("other")
Thing("same")
"""


def test_duplicate_urn_fails_instead_of_merging(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: dup\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    (tmp_path / "__main__.py").write_text(PROGRAM)
    with pytest.raises(DuplicateUrnError) as caught:
        render("dev", project_dir=tmp_path)
    assert caught.value.lines == (
        "render: two resources have the URN "
        "urn:pulumi:dev::dup::pulumi:pulumi:Stack$test:index:Thing::same; "
        "the Pulumi engine refuses duplicate URNs: give them distinct names",
    )


def test_patterns_whose_readable_names_collide_get_distinct_resources() -> None:
    """``release/*`` and ``release-*`` both read ``release-all``; each still gets its policy."""
    rendered = render_variant(
        "staging", {"cicd:approval.branches": ["develop", "release/*", "release-*"]}
    )
    policies = rendered.of_type(
        "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
    )
    assert sorted(p.inputs["branchPattern"] for p in policies) == [
        "develop",
        "release-*",
        "release/*",
    ]
    names = [p.name for p in policies]
    assert len(set(names)) == 3
    assert "webshop-branch-develop" in names  # names without a collision stay as they were


def test_the_same_pattern_twice_is_a_config_error() -> None:
    lines = config_problems("staging", {"cicd:approval.branches": ["develop", "develop"]})
    assert any("cicd:approval.branches[1] lists the same pattern twice" in line for line in lines)
