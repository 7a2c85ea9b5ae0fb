"""GitHub Actions the generated workflows may use, pinned to full commit SHAs.

Copied from the team's checked list of pins (action-pins.yaml, kept outside this repository): the
SHA pins the code, ``version`` becomes the ``# vX.Y.Z`` comment on the ``uses:`` line (people and
Dependabot read it), and ``inputs`` are the keys of the action's ``action.yml`` at that commit, so
a step that passes an unknown ``with:`` key fails while the program runs, not on GitHub.

Only actions the workflows use are listed. Dependabot's github-actions updates keep the committed
files current between releases of this project; bump a pin here by copying the new line from the
checked list, never by hand-typing a SHA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


@dataclass(frozen=True)
class Action:
    """One pinned action: where it lives, the commit, its release and its declared inputs."""

    repository: str
    sha: str
    version: str
    inputs: frozenset[str]
    required_inputs: frozenset[str] = frozenset()

    @property
    def ref(self) -> str:
        """The value of ``uses:``."""
        return f"{self.repository}@{self.sha}"


CHECKOUT: Final = Action(
    repository="actions/checkout",
    sha="3d3c42e5aac5ba805825da76410c181273ba90b1",
    version="v7.0.1",
    inputs=_names(
        "repository ref token ssh-key ssh-known-hosts ssh-strict ssh-user persist-credentials path clean filter sparse-checkout sparse-checkout-cone-mode fetch-depth fetch-tags show-progress lfs submodules set-safe-directory github-server-url allow-unsafe-pr-checkout"
    ),
)

SETUP_NODE: Final = Action(
    repository="actions/setup-node",
    sha="820762786026740c76f36085b0efc47a31fe5020",
    version="v7.0.0",
    inputs=_names(
        "node-version node-version-file architecture check-latest registry-url scope token cache package-manager-cache cache-dependency-path mirror mirror-token"
    ),
)

UPLOAD_ARTIFACT: Final = Action(
    repository="actions/upload-artifact",
    sha="bbbca2ddaa5d8feaa63e36b76fdaad77386f024f",
    version="v7.0.0",
    inputs=_names(
        "name path if-no-files-found retention-days compression-level overwrite include-hidden-files archive"
    ),
    required_inputs=_names("path"),
)

CACHE: Final = Action(
    repository="actions/cache",
    sha="27d5ce7f107fe9357f9df03efb73ab90386fccae",
    version="v5.0.5",
    inputs=_names(
        "path key restore-keys upload-chunk-size enableCrossOsArchive fail-on-cache-miss lookup-only save-always"
    ),
    required_inputs=_names("path key"),
)

DOWNLOAD_ARTIFACT: Final = Action(
    repository="actions/download-artifact",
    sha="3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c",
    version="v8.0.1",
    inputs=_names(
        "name artifact-ids path pattern merge-multiple github-token repository run-id skip-decompress digest-mismatch"
    ),
)

ATTEST_BUILD_PROVENANCE: Final = Action(
    repository="actions/attest-build-provenance",
    sha="a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32",
    version="v4.1.0",
    inputs=_names(
        "subject-path subject-digest subject-name subject-checksums predicate-type predicate predicate-path push-to-registry create-storage-record show-summary github-token"
    ),
)

SETUP_BUILDX: Final = Action(
    repository="docker/setup-buildx-action",
    sha="37fe631027851001ddb9b187196cc803df7f5f0e",
    version="v4.3.0",
    inputs=_names(
        "version driver driver-opts buildkitd-flags buildkitd-config buildkitd-config-inline use name endpoint platforms append keep-state cache-binary cleanup"
    ),
)

DOCKER_LOGIN: Final = Action(
    repository="docker/login-action",
    sha="4907a6ddec9925e35a0a9e82d7399ccc52663121",
    version="v4.1.0",
    inputs=_names("registry username password ecr scope logout registry-auth"),
)

DOCKER_METADATA: Final = Action(
    repository="docker/metadata-action",
    sha="dc802804100637a589fabce1cb79ff13a1411302",
    version="v6.2.0",
    inputs=_names(
        "context images tags flavor labels annotations sep-tags sep-labels sep-annotations bake-target github-token"
    ),
    required_inputs=_names("context github-token"),
)

BUILD_PUSH: Final = Action(
    repository="docker/build-push-action",
    sha="53b7df96c91f9c12dcc8a07bcb9ccacbed38856a",
    version="v7.3.0",
    inputs=_names(
        "add-hosts allow annotations attests build-args build-contexts builder cache-from cache-to call cgroup-parent context file labels load network no-cache no-cache-filters outputs platforms provenance pull push sbom secrets secret-envs secret-files shm-size ssh tags target ulimit github-token"
    ),
)

TRIVY: Final = Action(
    repository="aquasecurity/trivy-action",
    sha="ed142fd0673e97e23eac54620cfb913e5ce36c25",
    version="v0.36.0",
    inputs=_names(
        "scan-type image-ref input scan-ref exit-code ignore-unfixed vuln-type severity format template output skip-dirs skip-files cache-dir timeout ignore-policy hide-progress list-all-pkgs scanners trivyignores github-pat trivy-config tf-vars limit-severities-for-sarif docker-host version cache skip-setup-trivy token-setup-trivy"
    ),
)

COSIGN_INSTALLER: Final = Action(
    repository="sigstore/cosign-installer",
    sha="6f9f17788090df1f26f669e9d70d6ae9567deba6",
    version="v4.1.2",
    inputs=_names("cosign-release install-dir use-sudo"),
)

SBOM: Final = Action(
    repository="anchore/sbom-action",
    sha="e22c389904149dbc22b58101806040fa8d37a610",
    version="v0.24.0",
    inputs=_names(
        "path file image registry-username registry-password format github-token artifact-name output-file syft-version dependency-snapshot upload-artifact upload-artifact-retention upload-release-assets config"
    ),
)

UPLOAD_SARIF: Final = Action(
    repository="github/codeql-action/upload-sarif",
    sha="8aad20d150bbac5944a9f9d289da16a4b0d87c1e",
    version="v4.36.2",
    inputs=_names("sarif_file checkout_path ref sha token matrix category wait-for-processing"),
    required_inputs=_names("wait-for-processing"),
)

SETUP_KUBECTL: Final = Action(
    repository="azure/setup-kubectl",
    sha="829323503d1be3d00ca8346e5391ca0b07a9ab0d",
    version="v5.1.0",
    inputs=_names("version"),
    required_inputs=_names("version"),
)

SONARQUBE_SCAN: Final = Action(
    repository="SonarSource/sonarqube-scan-action",
    sha="22918119ff8e1ca75a623e15c8296b6ea4fbe28f",
    version="v8.2.1",
    inputs=_names(
        "args projectBaseDir scannerVersion scannerBinariesUrl skipSignatureVerification scannerBinariesAuthHeader"
    ),
)

SLACK: Final = Action(
    repository="slackapi/slack-github-action",
    sha="dcb1066f776dd043e64d0e8ba94ca15cc7e1875d",
    version="v4.0.0",
    inputs=_names(
        "api errors method payload payload-delimiter payload-file-path payload-templated proxy retries token webhook webhook-type"
    ),
)

SETUP_K6: Final = Action(
    repository="grafana/setup-k6-action",
    sha="db07bd9765aac508ef18982e52ab937fe633a065",
    version="v1.2.1",
    inputs=_names("k6-version browser github-token"),
)

RUN_K6: Final = Action(
    repository="grafana/run-k6-action",
    sha="de51a7390bdf0ac85a3bef493691bd71d4c7c158",
    version="v1.4.0",
    inputs=_names(
        "github-token path parallel fail-fast flags inspect-flags cloud-run-locally cloud-comment-on-pr only-verify-scripts debug disable-analytics"
    ),
    required_inputs=_names("github-token path"),
)

SETUP_PYTHON: Final = Action(
    repository="actions/setup-python",
    sha="5fda3b95a4ea91299a34e894583c3862153e4b97",
    version="v7.0.0",
    inputs=_names(
        "python-version python-version-file cache architecture check-latest token cache-dependency-path update-environment allow-prereleases freethreaded pip-version"
    ),
)

PINNED: Final = (
    CHECKOUT,
    SETUP_NODE,
    UPLOAD_ARTIFACT,
    CACHE,
    DOWNLOAD_ARTIFACT,
    ATTEST_BUILD_PROVENANCE,
    SETUP_BUILDX,
    DOCKER_LOGIN,
    DOCKER_METADATA,
    BUILD_PUSH,
    TRIVY,
    COSIGN_INSTALLER,
    SBOM,
    UPLOAD_SARIF,
    SETUP_KUBECTL,
    SONARQUBE_SCAN,
    SLACK,
    SETUP_K6,
    RUN_K6,
    SETUP_PYTHON,
)
"""Every action a generated workflow may use."""

BY_REF: Final = {action.ref: action for action in PINNED}
"""``uses:`` value -> action, for the version comment and for checks."""
