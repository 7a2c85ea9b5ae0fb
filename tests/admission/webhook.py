"""The sigstore policy-controller webhook, run out of cluster against the ``cluster`` tier's
control plane, registered as the pinned Helm chart registers it.

What runs: ``cmd/webhook`` of ``github.com/sigstore/policy-controller`` at v0.8.2, the app
version of chart 0.6.5 that the platform stack pins (tools/gotools.py builds it; the module's
go.mod replaces ``github.com/golang/glog``, copied into the tool's entry). It is a knative
``sharedmain`` program: it talks to the API server with a kubeconfig (env ``KUBECONFIG``,
knative.dev/pkg environment/client_config.go), serves HTTPS on ``--secure-port`` with the
certificate in the Secret ``webhook-certs`` of ``SYSTEM_NAMESPACE``, and runs its reconcilers
(ClusterImagePolicy -> ConfigMap ``config-image-policies``) with leader election in that namespace.

What is registered, and where it differs from the chart (sigstore/helm-charts, chart 0.6.5 =
commit 6c0ecbb, charts/policy-controller/templates/):

- webhook/webhook_validating.yaml and webhook_mutating.yaml: ``policy.sigstore.dev`` (the
  default ``cosign.webhookName``), namespaceSelector ``policy.sigstore.dev/include In ["true"]``
  (``_helpers.tpl`` ``policy-controller.webhook.namespaceSelector``, values.yaml default),
  ``admissionReviewVersions: [v1]``, ``failurePolicy: Fail`` (values.yaml ``webhook.failurePolicy``),
  ``sideEffects: None``, the mutating one ``reinvocationPolicy: IfNeeded``;
  webhook/policy_webhook_configurations.yaml: ``defaulting.`` and
  ``validating.clusterimagepolicy.sigstore.dev`` with ``failurePolicy: Fail``,
  ``matchPolicy: Equivalent``, ``sideEffects: None``.
- ``clientConfig``: the chart names ``service: webhook`` in the release namespace and leaves
  ``caBundle``, ``path`` and ``rules`` to the webhook's own reconcilers, which fill them in
  (knative.dev/pkg webhook/resourcesemantics/validation/reconcile_config.go and
  defaulting/defaulting.go at v0.0.0-20230612083802-15605c78a270, the version v0.8.2 requires).
  Out of cluster there is no Service to route to (the API server refuses loopback Endpoints), so
  this module registers ``clientConfig.url: https://127.0.0.1:PORT/<path>`` with a CA made here,
  and writes the ``rules`` those reconcilers would write, from the ``types`` and ``typesCIP`` maps
  of cmd/webhook/main.go at v0.8.2 (:func:`webhook_configurations`). Those reconcilers then stop
  at "missing service reference for webhook" (logged, retried) without changing anything, and so
  does the CRD conversion reconciler (conversion/reconciler.go); the CRD's conversion webhook is
  pointed at the same URL here for the same reason.
- ``webhook-certs`` (webhook/secret_certs_webhook.yaml, empty in the chart and filled by the
  webhook's certificates controller): filled here with a certificate for 127.0.0.1 and the
  Service names. The certificates controller keeps a certificate valid for more than a day
  (webhook/certificates/certificates.go), so it is not replaced.
- Arguments: the chart passes none at app version 0.8.2 (``-webhook-name`` and friends only
  ``>= 1.8-0``). Added here: ``--disable-tuf`` (offline: without it, main.go initialises TUF
  from the public Sigstore mirror and panics when it cannot; a key authority needs no TUF root).
  ``METRICS_PROMETHEUS_PORT`` and ``PROFILING_PORT`` are set to free ports so that the webhook
  does not take 9090/8008 on a shared machine.
- Ports it cannot be told: v0.8.2 serves HTTPS on **8443** whatever ``--secure-port`` says
  (main.go stores ``webhook.Options`` in the context with ``webhook.WithOptions``, which keeps
  a copy, before ``flag.IntVar`` binds the flag to the original), on every interface, and
  knative's health probes on **8080** (injection/health_check.go ``HealthCheckDefaultPort``).
  So one webhook runs at a time on this machine: :func:`install` holds an exclusive lock
  (:data:`PORT_LOCK`) for the webhook's life, and fails with one line if a port is taken.
- ConfigMaps: the chart's ``config-policy-controller``, ``config-image-policies``,
  ``config-sigstore-keys`` (``_example`` only) and ``policy-controller-webhook-logging``.

The CRDs are the module's own (config/300-clusterimagepolicy.yaml, 300-trustroot.yaml at
v0.8.2, from the Go module cache), not hand-written.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import yaml

from tests.cluster.plane import ControlPlane, free_port, go_module_dir
from tools.gotools import TOOLS

TOOL: Final = "policy-controller-webhook"
MODULE: Final = TOOLS[TOOL].module
VERSION: Final = TOOLS[TOOL].version
CHART_VERSION: Final = "0.6.5"
"""The chart whose app version :data:`VERSION` is (``cicd-platform:policyController.chartVersion``)."""
NAMESPACE: Final = "cosign-system"
"""The platform stack's ``policyController.namespace`` default (components/config/platform.py)."""
FULLNAME: Final = "policy-controller"
"""The chart's ``policy-controller.fullname`` for a release named policy-controller."""
WEBHOOK_NAME: Final = "policy.sigstore.dev"
DEFAULTING_NAME: Final = "defaulting.clusterimagepolicy.sigstore.dev"
VALIDATING_NAME: Final = "validating.clusterimagepolicy.sigstore.dev"
INCLUDE_SELECTOR: Final = {
    "matchExpressions": [
        {"key": "policy.sigstore.dev/include", "operator": "In", "values": ["true"]}
    ]
}
WEBHOOK_PORT: Final = 8443
PROBES_PORT: Final = 8080
PORT_LOCK: Final = Path(tempfile.gettempdir()) / "policy-controller-webhook-8443.lock"
"""Held while a webhook of these tests runs (pytest-xdist workers take turns)."""
EXPECTED_NOISE: Final = (
    "missing service reference for webhook",
    "isn't configured for webhook conversion",
)
"""What knative's reconcilers log, and retry, for a URL client config: expected here."""
CREATE_UPDATE: Final = ["CREATE", "UPDATE"]
CREATE_UPDATE_DELETE: Final = ["CREATE", "UPDATE", "DELETE"]


def _rule(operations: list[str], group: str, version: str, resources: list[str]) -> dict[str, Any]:
    return {
        "operations": operations,
        "apiGroups": [group],
        "apiVersions": [version],
        "resources": resources,
    }


WORKLOAD_RULES: Final = [
    # cmd/webhook/main.go ``types``: Pod (crdEphemeralContainers), the rest
    # crdNoStatusUpdatesOrDeletes; all CREATE, UPDATE; sorted as the reconciler sorts them
    _rule(CREATE_UPDATE, "", "v1", ["pods", "pods/ephemeralcontainers"]),
    _rule(CREATE_UPDATE, "apps", "v1", ["daemonsets"]),
    _rule(CREATE_UPDATE, "apps", "v1", ["deployments"]),
    _rule(CREATE_UPDATE, "apps", "v1", ["replicasets"]),
    _rule(CREATE_UPDATE, "apps", "v1", ["statefulsets"]),
    _rule(CREATE_UPDATE, "batch", "v1", ["cronjobs"]),
    _rule(CREATE_UPDATE, "batch", "v1", ["jobs"]),
    _rule(CREATE_UPDATE, "batch", "v1beta1", ["cronjobs"]),
]
"""The rules knative's reconciler writes into ``policy.sigstore.dev`` (both kinds)."""

POLICY_RULES: Final = [
    # cmd/webhook/main.go ``typesCIP``: not verb- or subresource-limited, so the reconciler's
    # legacy defaults: CREATE, UPDATE, DELETE on the resource and its status
    _rule(
        CREATE_UPDATE_DELETE,
        "policy.sigstore.dev",
        "v1alpha1",
        ["clusterimagepolicies", "clusterimagepolicies/status"],
    ),
    _rule(
        CREATE_UPDATE_DELETE, "policy.sigstore.dev", "v1alpha1", ["trustroots", "trustroots/status"]
    ),
    _rule(
        CREATE_UPDATE_DELETE,
        "policy.sigstore.dev",
        "v1beta1",
        ["clusterimagepolicies", "clusterimagepolicies/status"],
    ),
]
"""The rules of ``defaulting.`` and ``validating.clusterimagepolicy.sigstore.dev``."""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_serving_pki(folder: Path) -> dict[str, bytes]:
    """A CA and the webhook's serving certificate (127.0.0.1 and the chart's Service names),
    as the three keys of knative's ``webhook-certs`` Secret (certificates/resources/secret.go)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ca.cnf").write_text(
        "[req]\ndistinguished_name = dn\n[dn]\n[ca]\n"
        "basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
    )
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=folder)
    _openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=admission-tier-ca", "-days", "3",
        "-config", "ca.cnf", "-extensions", "ca", "-out", "ca.pem",
        cwd=folder,
    )  # fmt: skip
    service = f"webhook.{NAMESPACE}"
    (folder / "leaf.cnf").write_text(
        "[req]\ndistinguished_name = dn\n[dn]\n[leaf]\n"
        "keyUsage = critical,digitalSignature,keyEncipherment\nextendedKeyUsage = serverAuth\n"
        f"subjectAltName = IP:127.0.0.1,DNS:webhook,DNS:{service},DNS:{service}.svc,"
        f"DNS:{service}.svc.cluster.local\n"
    )
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "leaf.ec", cwd=folder)
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", "leaf.ec", "-out", "server.key", cwd=folder)
    _openssl(
        "req", "-new", "-key", "server.key", "-subj", f"/CN={service}.svc", "-config", "leaf.cnf",
        "-out", "server.csr",
        cwd=folder,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "3", "-extfile", "leaf.cnf", "-extensions", "leaf",
        "-out", "server.pem",
        cwd=folder,
    )  # fmt: skip
    return {
        "ca-cert.pem": (folder / "ca.pem").read_bytes(),
        "server-cert.pem": (folder / "server.pem").read_bytes(),
        "server-key.pem": (folder / "server.key").read_bytes(),
    }


def module_crds() -> list[dict[str, Any]]:
    """The CRDs of policy-controller's config/ folder at :data:`VERSION` (Go module cache)."""
    config = go_module_dir(MODULE, VERSION) / "config"
    crds: list[dict[str, Any]] = []
    for name in ("300-clusterimagepolicy.yaml", "300-trustroot.yaml"):
        crds += [doc for doc in yaml.safe_load_all((config / name).read_text()) if doc]
    return crds


def with_conversion_url(crd: Mapping[str, Any], base_url: str, ca: bytes) -> dict[str, Any]:
    """``crd`` with its conversion webhook at ``base_url`` (knative serves it on
    ``/resource-conversion``, cmd/webhook/main.go) instead of the in-cluster Service."""
    result = json.loads(json.dumps(crd))
    conversion = result["spec"].get("conversion") or {}
    if conversion.get("strategy") == "Webhook":
        conversion["webhook"]["clientConfig"] = {
            "url": f"{base_url}/resource-conversion",
            "caBundle": base64.b64encode(ca).decode(),
        }
    return dict(result)


def webhook_configurations(base_url: str, ca: bytes) -> list[dict[str, Any]]:
    """The chart's four webhook configurations, with ``url`` client configs (module docstring)."""
    bundle = base64.b64encode(ca).decode()

    def client(path: str) -> dict[str, str]:
        return {"url": f"{base_url}{path}", "caBundle": bundle}

    def config(kind: str, name: str, hook: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": name},
            "webhooks": [{"name": name, "admissionReviewVersions": ["v1"], **hook}],
        }

    workload = {"namespaceSelector": INCLUDE_SELECTOR, "failurePolicy": "Fail", "sideEffects": "None",
                "rules": WORKLOAD_RULES}  # fmt: skip
    policy = {"failurePolicy": "Fail", "matchPolicy": "Equivalent", "sideEffects": "None",
              "rules": POLICY_RULES}  # fmt: skip
    return [
        config("ValidatingWebhookConfiguration", WEBHOOK_NAME,
               {**workload, "clientConfig": client("/validations")}),
        config("MutatingWebhookConfiguration", WEBHOOK_NAME,
               {**workload, "clientConfig": client("/mutations"),
                "reinvocationPolicy": "IfNeeded"}),
        config("MutatingWebhookConfiguration", DEFAULTING_NAME,
               {**policy, "clientConfig": client("/defaulting")}),
        config("ValidatingWebhookConfiguration", VALIDATING_NAME,
               {**policy, "clientConfig": client("/validating")}),
    ]  # fmt: skip


def chart_configmaps() -> list[dict[str, Any]]:
    """The ConfigMaps chart 0.6.5 installs with default values (webhook/configmap*.yaml,
    config-sigstore-keys.yaml): example-only data, so every setting is the webhook's default."""

    def configmap(name: str, data: dict[str, str]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "data": data,
        }

    logging = json.dumps(
        {
            "level": "info",
            "development": False,
            "outputPaths": ["stdout"],
            "errorOutputPaths": ["stderr"],
            "encoding": "json",
            "encoderConfig": {"timeKey": "ts", "levelKey": "level", "nameKey": "logger",
                              "callerKey": "caller", "messageKey": "msg",
                              "stacktraceKey": "stacktrace", "timeEncoder": "iso8601"},
        }
    )  # fmt: skip
    return [
        configmap("config-policy-controller", {"_example": "no-match-policy: warn\n"}),
        configmap("config-image-policies", {"_example": "see the chart\n"}),
        configmap("config-sigstore-keys", {"_example": "see the chart\n"}),
        configmap(
            f"{FULLNAME}-webhook-logging",
            {
                "zap-logger-config": logging,
                "loglevel.controller": "info",
                "loglevel.webhook": "info",
            },
        ),
    ]


def key_authority_policy(
    rendered: Mapping[str, Any], public_key: str, registry_prefix: tuple[str, str]
) -> dict[str, Any]:
    """The stack's rendered ClusterImagePolicy for the test: every authority's ``keyless`` and
    ``ctlog`` become ``key: {data: PUBLIC KEY}``; each image glob's registry prefix ``old`` is
    replaced by ``new`` (the loopback registry). Every other field stays as rendered.

    Why: keyless needs Fulcio, Rekor and a CT log, none of which runs offline (docs/
    supply-chain.md). Without ``ctlog`` a key authority skips the transparency log
    (pkg/webhook/validator.go ``checkOptsFromAuthority`` at v0.8.2: no Rekor client and no keys
    -> ``IgnoreTlog``), matching CI's ``--tlog-upload=false`` signatures in this tier.
    """
    old, new = registry_prefix
    result = json.loads(json.dumps(rendered))
    result["metadata"] = {
        key: value for key, value in result["metadata"].items() if key in ("name", "labels")
    }
    spec = result["spec"]
    for image in spec["images"]:
        assert image["glob"].startswith(old), image
        image["glob"] = new + image["glob"][len(old) :]
    for authority in spec["authorities"]:
        assert "keyless" in authority, authority
        authority.pop("keyless")
        authority.pop("ctlog", None)
        authority["key"] = {"data": public_key}
    return dict(result)


@dataclass
class Webhook:
    """The running webhook: its URL, CA, log file and process (stopped by its own handle)."""

    base_url: str
    ca: bytes
    log: Path
    process: subprocess.Popen[bytes]
    lock: IO[bytes]

    def log_tail(self, lines: int = 40) -> str:
        """The log's last lines, without the reconcilers' expected complaint about
        ``clientConfig.url`` (module docstring)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        kept = [line for line in text.splitlines() if not any(n in line for n in EXPECTED_NOISE)]
        return "\n".join(kept[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:  # it drains for knative's lame-duck period on SIGTERM; nothing to keep here
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.lock.close()  # releases the flock


def apply(plane: ControlPlane, obj: Mapping[str, Any], *, check: bool = True) -> str:
    """Server-side apply as the cluster admin, the way Helm's objects are owned by one manager."""
    result = plane.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=policy-controller-chart",
        "--filename=-", stdin=yaml.safe_dump(dict(obj)), check=check,
    )  # fmt: skip
    return result.stdout + result.stderr


def install(plane: ControlPlane, binary: str, folder: Path) -> Webhook:
    """Everything the chart installs, then the webhook process (not yet serving: callers wait
    for what they need with :func:`wait_until`)."""
    lock = PORT_LOCK.open("wb")
    fcntl.flock(lock, fcntl.LOCK_EX)  # another worker's webhook: wait for it to stop
    try:
        return _install(plane, binary, folder, lock)
    except BaseException:
        lock.close()
        raise


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _install(plane: ControlPlane, binary: str, folder: Path, lock: IO[bytes]) -> Webhook:
    for port in (WEBHOOK_PORT, PROBES_PORT):
        assert _port_free(port), (
            f"port {port} is taken: policy-controller v0.8.2 cannot serve elsewhere (webhook.py)"
        )
    base_url = f"https://127.0.0.1:{WEBHOOK_PORT}"
    certs = make_serving_pki(folder / "pki")
    apply(plane, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    for configmap in chart_configmaps():
        apply(plane, configmap)
    apply(
        plane,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "webhook-certs", "namespace": NAMESPACE},
            "data": {key: base64.b64encode(value).decode() for key, value in certs.items()},
        },
    )
    for crd in module_crds():
        apply(plane, with_conversion_url(crd, base_url, certs["ca-cert.pem"]))
    for configuration in webhook_configurations(base_url, certs["ca-cert.pem"]):
        apply(plane, configuration)
    home = folder / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "KUBECONFIG": str(plane.admin_kubeconfig),
        # deployment_webhook.yaml of chart 0.6.5
        "SYSTEM_NAMESPACE": NAMESPACE,
        "CONFIG_LOGGING_NAME": f"{FULLNAME}-webhook-logging",
        "CONFIG_OBSERVABILITY_NAME": f"{FULLNAME}-webhook-observability",
        "METRICS_DOMAIN": "sigstore.dev/policy",
        "WEBHOOK_NAME": "webhook",
        # out of cluster, on a shared machine
        "METRICS_PROMETHEUS_PORT": str(free_port()),
        "PROFILING_PORT": str(free_port()),
    }
    log = folder / "webhook.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "--disable-tuf"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Webhook(base_url, certs["ca-cert.pem"], log, process, lock)


def wait_until(
    what: str,
    check: Callable[[], bool],
    webhook: Webhook,
    seconds: float = 120.0,
    detail: Callable[[], str] = lambda: "",
) -> None:
    """Poll ``check()``; fail with the webhook's log if it exits or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if webhook.process.poll() is not None:
            raise AssertionError(f"the webhook exited ({webhook.process.returncode}) "
                                 f"before {what}:\n{webhook.log_tail()}")  # fmt: skip
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {seconds}s: {detail()}\n{webhook.log_tail()}")
