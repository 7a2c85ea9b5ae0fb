"""The explicit Kubernetes provider's settings, as Pulumi users set them in a stack file.

Like ``github:token``/``github:baseUrl`` (components/config/github_provider.py), the Kubernetes
provider's own config keys are read and passed to the program's explicit ``k8s.Provider``
(``__main__.py``, components/platform_stack.py), the only Kubernetes provider the stacks use.
An explicit provider does not read the ``kubernetes:`` stack config by itself (that config is the
default provider's), so without this they would be silently ignored:

- ``kubernetes:kubeconfig``: the kubeconfig's content (or a path to it), set with ``pulumi
  config set --secret`` (it usually holds a credential); a secret Output end to end, shown
  nowhere. Unset: the provider reads ``KUBECONFIG`` or ``~/.kube/config``.
- the context: ``cicd:cluster.kubeContext`` (``cicd-platform:cluster.kubeContext`` in a
  platform stack), or the provider's own ``kubernetes:context``; one of the two, never both, so
  no reader has to know which wins. Unset: the kubeconfig's current context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import pulumi

from components.config.problems import Problem

KUBECONFIG_KEY: Final = "kubernetes:kubeconfig"
CONTEXT_KEY: Final = "kubernetes:context"
READ_KEYS: Final = frozenset({"kubeconfig", "context"})
"""What this program reads from ``kubernetes:``; anything else there is refused."""

_CONTEXT = re.compile(r"^[A-Za-z0-9@:/._-]{1,253}$")


@dataclass(frozen=True)
class KubernetesProviderSettings:
    """What the explicit Kubernetes provider is given; None leaves the provider's default."""

    kubeconfig: pulumi.Output[str] | None = None
    """A secret Output (``kubernetes:kubeconfig``); None: ``KUBECONFIG`` or ~/.kube/config."""
    context: str | None = None
    """The context (section key or ``kubernetes:context``); None: the current context."""


def context_problem(value: str) -> str | None:
    """Why ``value`` is refused as ``kubernetes:context``, or None."""
    if not _CONTEXT.fullmatch(value):
        return "must be a kubeconfig context name (letters, digits and @:/._-)"
    return None


def both_contexts(section_key: str, namespace: str) -> Problem:
    """The one line for a context given twice."""
    return Problem(
        "context",
        f"is set and so is {namespace}:{section_key}: set the context in one of them",
        namespace="kubernetes",
    )
