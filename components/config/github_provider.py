"""The explicit GitHub provider's settings, as Pulumi users set them in a stack file.

``github:owner`` (required), ``github:token`` (optional, set with ``pulumi config set --secret``)
and ``github:baseUrl`` (optional, GitHub Enterprise Server) are the GitHub provider's own config
keys: set in ``Pulumi.<stack>.yaml``, they reach the program's explicit ``github.Provider``
(``__main__.py``), which is the only GitHub provider the stacks use. Unset, the provider takes
its token from ``GITHUB_TOKEN`` and talks to github.com.

What the provider accepts as a base URL is what terraform-provider-github v6.13.0 (the code
pulumi-github v6.15.0 wraps) checks in ``github/config.go`` ``getBaseURL``: an absolute URL;
github.com, api.github.com and ``*.ghe.com`` only over https and without a path; any other host
is GitHub Enterprise Server, over http or https, and ``api/v3/`` is added to it. The same rule is
checked here, before anything is registered, so a wrong URL is one line naming the key; plain
http is refused except on loopback (:func:`base_url_problem`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import pulumi

OWNER_KEY: Final = "github:owner"
TOKEN_KEY: Final = "github:token"
BASE_URL_KEY: Final = "github:baseUrl"

_DOT_COM_HOSTS: Final = ("github.com", "api.github.com")
_GITHUB_OWN: Final = re.compile(r"(^|\.)(ghe|github)\.com$")


@dataclass(frozen=True)
class GitHubProviderSettings:
    """What the explicit GitHub provider is given; None leaves the provider's own default."""

    owner: str
    token: pulumi.Output[str] | None = None
    """A secret Output (``github:token``); None: the provider reads ``GITHUB_TOKEN``."""
    base_url: str | None = None
    """``github:baseUrl``; None: github.com."""


def base_url_problem(value: str) -> str | None:
    """Why ``value`` is refused as the provider's base URL, or None.

    Stricter than the provider on one point: it would send the token over plain http to any host
    it takes for Enterprise Server (``http://www.github.com/``, ``http://api.github.com./``
    included); here http is accepted only for a loopback address (a local stand-in), and every
    ``*.github.com`` / ``*.ghe.com`` host, with or without a trailing dot, is GitHub's own."""
    parts = urlsplit(value)
    example = "such as https://github.example.com/ (GitHub Enterprise Server)"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an absolute http(s) URL {example}"
    host = parts.hostname.lower().rstrip(".")
    if host in _DOT_COM_HOSTS or _GITHUB_OWN.search(host):
        if parts.scheme != "https":
            return "must use https for github.com and ghe.com"
        if parts.path.strip("/"):
            return "must not contain a path for github.com and ghe.com"
    if parts.scheme != "https" and not _loopback(host):
        return (
            "must use https: the token would cross the network in the clear "
            "(http is accepted only for a loopback address)"
        )
    if parts.query or parts.fragment:
        return f"must not have a query or fragment {example}"
    return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
