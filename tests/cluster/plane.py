"""A real Kubernetes control plane on loopback for the ``cluster`` tier.

One pytest session starts, in a temporary folder and on free loopback ports:

- etcd (Debian ``etcd-server``; 3.4 serves a 1.36 API server) with its own data directory;
- kube-apiserver v1.36 (tools/gotools.py, built from ``k8s.io/kubernetes`` once and cached):
  serving certificate signed by a CA made here with ``openssl``, a static admin token in group
  ``system:masters``, ServiceAccount signing keys, ``Node,RBAC`` authorisation and the default
  admission plugins, which include PodSecurity, ResourceQuota, LimitRanger and
  ValidatingAdmissionPolicy (NodeRestriction added, as every real cluster has it);
- kube-controller-manager (Deployment, ReplicaSet, garbage collector, namespace, and the token
  controller that fills ``kubernetes.io/service-account-token`` Secrets) and kube-scheduler;
- kwok, which plays the kubelet of two fake nodes: scheduled pods become Running and Ready;
- once the Argo Rollouts CRDs are in (tests/cluster/conftest.py), the Argo Rollouts controller
  v1.8.3 (:func:`start_rollouts_controller`), out of cluster, as the chart's Deployment runs it,
  with a token of its own ServiceAccount bound to the chart's ClusterRole.

Nothing leaves loopback and nothing is downloaded at run time except through the Go module proxy
on first build. Teardown stops exactly the processes this fixture started (by their own handles),
in reverse order, and removes the folder. Everything runs as the current user (root on CI).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from tests.conftest import real_tool
from tools import gotools

ADMIN_TOKEN: Final = "cluster-tier-admin-token"
"""A static token (``--token-auth-file``) of user ``admin`` in ``system:masters``: loopback only,
lives as long as the test session."""

SA_ISSUER: Final = "https://kubernetes.default.svc.cluster.local"
NODES: Final = ("kwok-node-0", "kwok-node-1")
START_SECONDS: Final = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(folder: Path) -> None:
    """CA, API server serving certificate (loopback and in-cluster names), SA signing key pair."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=cluster-tier-ca",
        cwd=folder,
    )  # fmt: skip
    (folder / "serving.ext").write_text(
        "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,"
        "DNS:kubernetes.default,DNS:kubernetes.default.svc\n"
        "extendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "serving.key",
        "-out", "serving.csr", "-subj", "/CN=kube-apiserver",
        cwd=folder,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "serving.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "serving.ext", "-out", "serving.crt",
        cwd=folder,
    )  # fmt: skip
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=folder)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=folder)


def go_module_dir(module: str, version: str) -> Path:
    """The module's folder in the Go module cache (downloaded through the module proxy)."""
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return Path(json.loads(result.stdout)["Dir"])


KWOK_STAGES: Final = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)
"""kwok's own "fast" stage set (kustomize/stage/fast/kustomization.yaml of its module): nodes
become Ready and keep a lease, pods become Running and Ready at once, deleted pods go away."""


def kwok_config(folder: Path, version: str) -> Path:
    """kwok's stages, read from its module at the version tools/gotools.py builds."""
    stages = go_module_dir("sigs.k8s.io/kwok", version) / "kustomize" / "stage"
    path = folder / "kwok-stages.yaml"
    path.write_text("\n---\n".join((stages / name).read_text() for name in KWOK_STAGES))
    return path


def kubeconfig_text(server: str, ca_file: Path, user: str, token: str, namespace: str) -> str:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "tier", "cluster": {"server": server, "certificate-authority": str(ca_file)}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": user, "context": {"cluster": "tier", "user": user, "namespace": namespace}}
        ],
        "current-context": user,
    }
    return yaml.safe_dump(document, sort_keys=False)


@dataclass
class ControlPlane:
    """A running control plane; ``kubectl`` runs the 1.36 kubectl as admin or as a token."""

    folder: Path
    server: str
    ca_file: Path
    kubectl_path: str
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    @property
    def admin_kubeconfig(self) -> Path:
        return self.folder / "admin.kubeconfig"

    def kubeconfig_for(self, user: str, token: str, namespace: str = "default") -> Path:
        """A kubeconfig file for ``token`` (the deployer's real ServiceAccount token)."""
        path = self.folder / f"kubeconfig-{user.replace(':', '_')}"
        path.write_text(kubeconfig_text(self.server, self.ca_file, user, token, namespace))
        return path

    def kubectl(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        stdin: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(kubeconfig or self.admin_kubeconfig)}
        result = subprocess.run(
            [self.kubectl_path, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result

    def get(self, *args: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.kubectl("get", *args, "--output=json").stdout)
        return data

    def start(
        self, name: str, command: Sequence[str], env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        process = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **env} if env else None,
        )
        self.processes.append((name, process))
        return process

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.folder / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the processes this control plane started, newest first, by their own handles."""
        for _, process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for _, process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.processes.clear()


def _wait_until(what: str, check: Any, plane: ControlPlane, log: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        for name, process in plane.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}):\n{plane.log_tail(name)}")
        if check():
            return
        time.sleep(0.5)
    raise RuntimeError(f"{what} not ready after {START_SECONDS}s:\n{plane.log_tail(log)}")


def _http_ok(url: str, context: ssl.SSLContext | None = None, token: str | None = None) -> bool:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=3, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_control_plane(folder: Path) -> ControlPlane:
    etcd = real_tool("etcd", install="apt-get install -y etcd-server")
    real_tool("openssl", install="apt-get install -y openssl")
    apiserver = real_tool("kube-apiserver", install="python tools/gotools.py kube-apiserver")
    manager = real_tool(
        "kube-controller-manager", install="python tools/gotools.py kube-controller-manager"
    )
    scheduler = real_tool("kube-scheduler", install="python tools/gotools.py kube-scheduler")
    kwok = real_tool("kwok", install="python tools/gotools.py kwok")
    kubectl = real_tool("kubectl", install="python tools/gotools.py kubectl")

    pki = folder / "pki"
    make_pki(pki)
    port = free_port()
    server = f"https://127.0.0.1:{port}"
    plane = ControlPlane(folder=folder, server=server, ca_file=pki / "ca.crt", kubectl_path=kubectl)
    plane.admin_kubeconfig.write_text(
        kubeconfig_text(server, plane.ca_file, "admin", ADMIN_TOKEN, "default")
    )
    (folder / "tokens.csv").write_text(f'{ADMIN_TOKEN},admin,admin-uid,"system:masters"\n')
    try:
        etcd_port, peer_port = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        plane.start(
            "etcd",
            [
                etcd, "--name=tier", f"--data-dir={folder / 'etcd'}",
                f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=tier=http://127.0.0.1:{peer_port}",
                "--quota-backend-bytes=1073741824", "--unsafe-no-fsync",
            ],
        )  # fmt: skip
        _wait_until("etcd", lambda: _http_ok(f"{etcd_url}/health"), plane, "etcd")
        plane.start(
            "kube-apiserver",
            [
                apiserver, f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
                f"--secure-port={port}", f"--cert-dir={folder / 'apiserver'}",
                f"--tls-cert-file={pki / 'serving.crt'}",
                f"--tls-private-key-file={pki / 'serving.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--token-auth-file={folder / 'tokens.csv'}",
                f"--service-account-issuer={SA_ISSUER}", f"--api-audiences={SA_ISSUER}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
                "--service-cluster-ip-range=10.0.0.0/24", "--profiling=false",
                "--endpoint-reconciler-type=none",  # its endpoint would be loopback: refused
            ],
        )  # fmt: skip
        context = ssl.create_default_context(cafile=str(plane.ca_file))
        _wait_until(
            "kube-apiserver",
            lambda: _http_ok(f"{server}/readyz", context, ADMIN_TOKEN),
            plane,
            "kube-apiserver",
        )
        kubeconfig = str(plane.admin_kubeconfig)
        plane.start(
            "kube-controller-manager",
            [
                manager, f"--kubeconfig={kubeconfig}", "--leader-elect=false",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
                f"--cert-dir={folder / 'controller-manager'}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}", "--use-service-account-credentials=false",
                # nodelifecycle lifts the not-ready taint TaintNodesByCondition puts on new nodes
                "--controllers=*,-nodeipam,-cloud-node-lifecycle",
                # ...but after 50 s (the default) without a kwok heartbeat, which a loaded
                # machine can delay, it would mark the node NotReady and its pods' Ready
                # condition False (MarkPodsNotReady), which kwok's stages never set back. Seen
                # before this flag, not proven to be this: canary ReplicaSets counting no
                # available pod (pods Running 1/1) and canaries stalled at weight 0.
                "--node-monitor-grace-period=1h",
            ],
        )  # fmt: skip
        plane.start(
            "kube-scheduler",
            [
                scheduler, f"--kubeconfig={kubeconfig}", "--leader-elect=false",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
                f"--cert-dir={folder / 'scheduler'}",
            ],
        )  # fmt: skip
        plane.start(
            "kwok",
            [
                kwok, f"--kubeconfig={kubeconfig}", "--manage-all-nodes=false",
                f"--config={kwok_config(folder, gotools.TOOLS['kwok'].version)}",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--node-ip=10.0.0.2", "--cidr=10.0.1.0/24",
                f"--server-address=127.0.0.1:{free_port()}",
            ],
        )  # fmt: skip
        for node in NODES:
            plane.kubectl("apply", "--server-side", "--field-manager=cluster-tier",
                          "--filename=-", stdin=yaml.safe_dump(fake_node(node)))  # fmt: skip
        _wait_until("kwok nodes", lambda: _nodes_ready(plane), plane, "kwok")
    except BaseException:
        plane.stop()
        raise
    return plane


def fake_node(name: str) -> dict[str, Any]:
    """A Node kwok manages (its annotation), with room for every stack's quota."""
    capacity = {"cpu": "64", "memory": "256Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok"},
        },
        "status": {"allocatable": capacity, "capacity": capacity},
    }


def _nodes_ready(plane: ControlPlane) -> bool:
    result = plane.kubectl("get", "nodes", "--output=json", check=False)
    if result.returncode != 0:
        return False
    ready = 0
    for node in json.loads(result.stdout)["items"]:
        conditions = node.get("status", {}).get("conditions", [])
        ready += any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return ready == len(NODES)


ROLLOUTS_NAMESPACE: Final = "argo-rollouts"
"""The controller's own namespace: the chart's default. The controller reads its ConfigMap
``argo-rollouts-config`` (and the notification ConfigMap) from there; ``POD_NAMESPACE`` names it,
as the chart's Deployment sets it through the downward API (utils/defaults/defaults.go
``Namespace()``, argo-rollouts v1.8.3)."""


ROLLOUTS_SERVICE_ACCOUNT: Final = "argo-rollouts"
"""The controller's ServiceAccount: the chart's ``argo-rollouts.serviceAccountName`` with the
release named ``argo-rollouts`` (components/platform.py) and ``serviceAccount.create: true``."""

_READ: Final = ("get", "list", "watch")
_WRITE: Final = ("create", "get", "list", "watch", "update", "patch", "delete")

ROLLOUTS_CONTROLLER_RULES: Final[tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...]] = (
    (("argoproj.io",), ("rollouts", "rollouts/status", "rollouts/finalizers"),
     ("get", "list", "watch", "update", "patch")),
    (("argoproj.io",), ("analysisruns", "analysisruns/finalizers", "experiments",
                        "experiments/finalizers"), _WRITE),
    (("argoproj.io",), ("analysistemplates", "clusteranalysistemplates"), _READ),
    (("apps",), ("replicasets",), _WRITE),
    (("", "apps"), ("deployments", "podtemplates"), ("get", "list", "watch", "update")),
    (("",), ("services",), ("get", "list", "watch", "patch", "create", "delete")),
    (("coordination.k8s.io",), ("leases",), ("create", "get", "update")),
    (("",), ("secrets",), _READ),
    (("",), ("configmaps",), (*_READ, "create", "update")),
    (("",), ("pods",), ("list", "update", "watch")),
    (("",), ("pods/eviction",), ("create",)),
    (("",), ("events",), ("create", "update", "patch")),
    (("networking.k8s.io", "extensions"), ("ingresses",),
     ("create", "get", "list", "watch", "update", "patch")),
    (("batch",), ("jobs",), _WRITE),
    (("",), ("endpoints",), ("get",)),
    (("traefik.containo.us", "traefik.io"), ("traefikservices",), ("watch", "get", "update")),
)  # fmt: skip
"""(API groups, resources, verbs) the controller's ClusterRole grants: what Helm chart
argo-rollouts 2.40.5 (app version v1.8.3, the platform stack's pin) renders with the values the
platform stack passes (chart defaults for RBAC: ``clusterInstall``, ``controller.createClusterRole``,
``providerRBAC.enabled`` all true), read in argoproj/argo-helm
charts/argo-rollouts/templates/_helpers.tpl (``argo-rollouts.controller.roleRules``) at that chart
version, and the same as manifests/role/argo-rollouts-clusterrole.yaml of argo-rollouts v1.8.3
for these rules. Written here as the tier's own equivalent, not copied: the provider rules for
APIs this cluster does not serve (Istio, SMI, Ambassador, AWS, App Mesh, APISIX, Contour, Gloo,
Gateway API objects) are left out, since they grant nothing without those CRDs; the NGINX
Ingress rules the stacks' canaries use are in, so is the Traefik rule (the traffic-router tests
install Traefik's CRDs: tests/cluster/test_traffic_routers.py), and so is the Gateway API provider's configmaps
``create``/``update`` that the chart adds by default. components/platform.py installs the
chart's own ClusterRole (tests/cluster/test_controller_rbac.py checks that it passes nothing
that would disable it)."""


def rollouts_controller_rbac(namespace: str) -> list[dict[str, Any]]:
    """ServiceAccount, ClusterRole and ClusterRoleBinding as the chart's cluster install makes
    them (templates/controller/serviceaccount.yaml, clusterrole.yaml, clusterrolebinding.yaml)."""
    name = ROLLOUTS_SERVICE_ACCOUNT
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": name, "namespace": namespace}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": name},
         "rules": [{"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}
                   for groups, resources, verbs in ROLLOUTS_CONTROLLER_RULES]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": name},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
    ]  # fmt: skip


def start_rollouts_controller(
    plane: ControlPlane, *, name: str = "rollouts-controller", args: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """The Argo Rollouts controller (tools/gotools.py ``rollouts-controller``, v1.8.3), out of
    cluster with ``--kubeconfig``, watching every namespace like the chart's cluster-wide install.

    Flags (cmd/rollouts-controller/main.go, v1.8.3) keep it light on a shared 2-core machine: no
    leader election (one instance), one or two worker threads per controller instead of 10,
    metrics and healthz on free ports (it binds ``:<port>``). It runs as its own ServiceAccount
    (:func:`rollouts_controller_rbac`: the chart's ClusterRole, nothing more), with a token from
    the TokenRequest API (``kubectl create token``, as the kubelet would project one into the
    chart's pod), so a request the chart's RBAC does not allow is refused here as in a real
    cluster. Ready when its healthz answers. Stopped with the other processes.

    ``name`` and ``args`` start a second instance next to the session's (its log is
    ``<name>.log``): with ``--instance-id=ID`` it reconciles only Rollouts labelled
    ``argo-rollouts.argoproj.io/controller-instance-id: ID``, which the session's instance (no
    id) leaves alone (utils/controller/controller.go ``InstanceIDRequirement``, v1.8.3).
    """
    controller = real_tool(
        "rollouts-controller", install="python tools/gotools.py rollouts-controller"
    )
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ROLLOUTS_NAMESPACE}}
    for document in (namespace, *rollouts_controller_rbac(ROLLOUTS_NAMESPACE)):
        plane.kubectl("apply", "--server-side", "--field-manager=cluster-tier", "--filename=-",
                      stdin=yaml.safe_dump(document))  # fmt: skip
    token = plane.kubectl(
        "create", "token", ROLLOUTS_SERVICE_ACCOUNT, f"--namespace={ROLLOUTS_NAMESPACE}",
        "--duration=12h",
    ).stdout.strip()  # fmt: skip
    kubeconfig = plane.kubeconfig_for(
        f"system:serviceaccount:{ROLLOUTS_NAMESPACE}:{ROLLOUTS_SERVICE_ACCOUNT}",
        token,
        ROLLOUTS_NAMESPACE,
    )
    healthz = free_port()
    process = plane.start(
        name,
        [
            controller, f"--kubeconfig={kubeconfig}", "--leader-elect=false",
            f"--metricsport={free_port()}", f"--healthzPort={healthz}",
            "--rollout-threads=2", "--experiment-threads=1", "--analysis-threads=1",
            "--service-threads=1", "--ingress-threads=1", "--loglevel=info", *args,
        ],
        env={"POD_NAMESPACE": ROLLOUTS_NAMESPACE},
    )  # fmt: skip
    _wait_until(name, lambda: _http_ok(f"http://127.0.0.1:{healthz}/healthz"), plane, name)
    return process
