"""Local stand-ins for every pinned action (components/workflows/pins.py).

act replaces ``uses: owner/name@sha`` with a local folder given by
``--local-repository owner/name@sha=DIR``; each stub here is a composite action declaring the
real action's inputs (from ``pins.py``, required ones marked) and the outputs the workflows read,
and simulates the action's effect through ``fakes.py`` (``action-*`` tools) or the fake CLIs on
PATH: build-push writes the image tarball and a digest, upload-artifact fails on
``if-no-files-found: error`` when nothing matches, trivy exits with its ``exit-code`` input when
the scenario's fake trivy finds something, upload-sarif fails where code scanning is off, Slack
posts through the fake curl, login fails without a password, SonarQube without a token (the Snyk CLI is the fake npx of
fakes.py).

setup-node, setup-buildx, setup-kubectl, cosign-installer, setup-k6 only record their inputs:
the host's own Node.js (20 here, whatever ``node-version`` asks for) and the fake CLIs stand in
for what they would install.

actions/checkout: act never runs it for the workflow's own repository; it copies the repository
(the working tree, .git included) into the job's workspace instead and logs the checkout step as a
success (``--no-skip-checkout`` would run the stub). The stub below therefore only runs for a
checkout of another repository, which it refuses, since no scenario may reach the network.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any, Final

import yaml

from components.workflows import pins

FAKES: Final = Path(__file__).with_name("fakes.py")

_OUTPUTS: Final[dict[str, tuple[str, ...]]] = {
    pins.CHECKOUT.repository: ("ref", "commit"),
    pins.SETUP_NODE.repository: ("node-version", "cache-hit"),
    pins.UPLOAD_ARTIFACT.repository: ("artifact-id", "artifact-url", "artifact-digest"),
    pins.DOWNLOAD_ARTIFACT.repository: ("download-path",),
    pins.SETUP_BUILDX.repository: ("name", "driver", "platforms"),
    pins.DOCKER_METADATA.repository: ("version", "tags", "labels", "annotations", "json"),
    pins.BUILD_PUSH.repository: ("imageid", "digest", "metadata"),
    pins.SBOM.repository: (),
    pins.SLACK.repository: ("ok", "response", "time", "thread_ts", "ts", "channel_id"),
}

_DEFAULTS: Final[dict[str, dict[str, str]]] = {
    pins.UPLOAD_ARTIFACT.repository: {"name": "artifact", "if-no-files-found": "warn"},
    pins.TRIVY.repository: {"exit-code": "0", "format": "table", "scan-type": "image"},
    pins.SLACK.repository: {"errors": "false"},
}


def _script(action: pins.Action, state: Path) -> str:
    """The bash body of one stub (absolute paths only; no expression reaches the shell)."""
    fakes = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKES))}"
    root = shlex.quote(str(state))
    record = f"{fakes} action-record {root} {shlex.quote(action.repository)}"
    special = {
        pins.UPLOAD_ARTIFACT.repository: f"{fakes} action-upload-artifact {root} upload",
        pins.DOWNLOAD_ARTIFACT.repository: f"{fakes} action-download-artifact {root} download",
        pins.BUILD_PUSH.repository: f"{fakes} action-build-push {root} build-push",
        pins.DOCKER_METADATA.repository: f"{fakes} action-metadata {root} metadata",
        # act copies the own repository itself for a plain checkout; a checkout of one commit
        # of it (``ref:``) comes here and gets that commit's tree from the scenario's repository,
        # or fails as GitHub's would for a commit the repository does not have.
        pins.CHECKOUT.repository: (
            f"{record}\n"
            f"repo={shlex.quote(str(state.parent / 'repo'))}\n"
            'if [ -z "$STUB_REPOSITORY" ] && [ -n "$STUB_REF" ]; then\n'
            '  if ! git -C "$repo" cat-file -e "$STUB_REF^{commit}" 2>/dev/null; then\n'
            '    echo "::error::stub checkout: $STUB_REF is not a commit of the repository"; exit 1\n'
            "  fi\n"
            '  git -C "$repo" archive --format=tar "$STUB_REF" | tar -x -C "$GITHUB_WORKSPACE"\n'
            "  exit 0\n"
            "fi\n"
            'echo "::error::stub checkout: act copies the own repository; '
            'fetching $STUB_REPOSITORY is not simulated"\nexit 1'
        ),
        pins.DOCKER_LOGIN.repository: (
            f"{record}\n"
            'if [ -z "$STUB_USERNAME" ] || [ -z "$STUB_PASSWORD" ]; then\n'
            '  echo "::error::Username and password required"; exit 1\nfi\n'
            'docker login "$STUB_REGISTRY" --username "$STUB_USERNAME" --password-stdin '
            '<<<"$STUB_PASSWORD"'
        ),
        # a tarball (input) or a registry reference (image-ref), as trivy-action passes either
        pins.TRIVY.repository: (
            f"{record}\n"
            'args=(image --severity "$STUB_SEVERITY" --format "$STUB_FORMAT" '
            '--output "${STUB_OUTPUT:-/dev/null}")\n'
            'if [ -n "$STUB_INPUT" ]; then args+=(--input "$STUB_INPUT"); '
            'else args+=("$STUB_IMAGE_REF"); fi\n'
            'if ! trivy "${args[@]}"; then\n'
            '  echo "trivy found vulnerabilities"; exit "$STUB_EXIT_CODE"\nfi'
        ),
        pins.UPLOAD_SARIF.repository: f"{fakes} action-upload-sarif {root} upload-sarif",
        pins.ATTEST_BUILD_PROVENANCE.repository: (
            f"{fakes} action-attest-build-provenance {root} "
            f"{pins.ATTEST_BUILD_PROVENANCE.repository}"
        ),
        pins.SONARQUBE_SCAN.repository: (
            f"{record}\n"
            'if [ -z "${SONAR_TOKEN:-}" ]; then\n'
            '  echo "::error::Running this GitHub Action without SONAR_TOKEN is not '
            'recommended"; exit 1\nfi'
        ),
        pins.SBOM.repository: (
            f"{record}\n"
            'if [ -n "$STUB_OUTPUT_FILE" ]; then\n'
            '  printf \'{"spdxVersion":"SPDX-2.3","name":"%s"}\\n\' "$STUB_IMAGE" '
            '> "$STUB_OUTPUT_FILE"\nfi'
        ),
        pins.SLACK.repository: (
            f"{record}\n"
            'if [ -z "$STUB_WEBHOOK" ]; then\n'
            '  echo "::error::Missing input! A webhook or a token is required."; exit 1\nfi\n'
            'if ! curl --fail --silent --show-error --data "$STUB_PAYLOAD" "$STUB_WEBHOOK"; then\n'
            '  if [ "$STUB_ERRORS" = "true" ]; then exit 1; fi\n'
            '  echo "::warning::Slack webhook failed"\n'
            "fi\n"
            'echo "ok=true" >> "$GITHUB_OUTPUT"'
        ),
        pins.RUN_K6.repository: f'{record}\nk6 run $STUB_FLAGS "$STUB_PATH"',
    }
    return special.get(action.repository, record)


def _env_name(input_name: str) -> str:
    return "STUB_" + input_name.upper().replace("-", "_")


def stub_action(action: pins.Action, state: Path) -> dict[str, Any]:
    """The action.yml of one stub."""
    defaults = _DEFAULTS.get(action.repository, {})
    inputs: dict[str, Any] = {}
    for name in sorted(action.inputs):
        spec: dict[str, Any] = {"description": f"as {action.repository}@{action.version}"}
        if name in action.required_inputs:
            spec["required"] = True
        if name in defaults:
            spec["default"] = defaults[name]
        inputs[name] = spec
    env = {_env_name(name): f"${{{{ inputs.{name} }}}}" for name in sorted(action.inputs)}
    env["STUB_INPUTS"] = "${{ toJSON(inputs) }}"
    outputs = {
        name: {"description": name, "value": f"${{{{ steps.stub.outputs.{name} }}}}"}
        for name in _OUTPUTS.get(action.repository, ())
    }
    return {
        "name": f"stub of {action.repository}",
        "description": f"Local stand-in for {action.repository}@{action.version}",
        "inputs": inputs,
        "outputs": outputs,
        "runs": {
            "using": "composite",
            "steps": [{"id": "stub", "shell": "bash", "env": env, "run": _script(action, state)}],
        },
    }


def write_stub_actions(stubs_dir: Path, state: Path) -> list[str]:
    """Write one stub per pinned action; returns act's ``--local-repository`` values."""
    mappings: list[str] = []
    for action in pins.PINNED:
        owner, name, *subpath = action.repository.split("/")
        root = stubs_dir / f"{owner}+{name}"
        folder = root.joinpath(*subpath)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "action.yml").write_text(
            yaml.safe_dump(stub_action(action, state), sort_keys=False)
        )
        mapping = f"{owner}/{name}@{action.sha}={root}"
        if mapping not in mappings:
            mappings.append(mapping)
    return mappings
