"""The GitHub provider's own settings (github:token, github:baseUrl) reach the explicit provider;
everything else under github: is still refused (components/config/github_provider.py)."""

from __future__ import annotations

import pytest

from render.engine import SECRET, secret_placeholder
from render.tree import tree
from tests.conftest import config_problems, render_variant, rendered

T_PROVIDER = "pulumi:providers:github"
GHES = "https://github.example.com/"


def test_token_and_enterprise_url_are_passed_to_the_explicit_provider() -> None:
    result = render_variant(
        "staging", {"github:token": {"secure": "v1:abc"}, "github:baseUrl": GHES}
    )
    (provider,) = result.of_type(T_PROVIDER)
    assert provider.inputs["token"] == SECRET  # a secret Output, as the engine would store it
    assert provider.inputs["baseUrl"] == GHES
    assert provider.inputs["owner"] == "acme"
    # Every GitHub resource uses that provider: it is the only GitHub provider registered.
    assert [r.name for r in result.resources if r.type == T_PROVIDER] == ["github"]
    placeholder = secret_placeholder("token")
    assert not [path for path, text in tree(result).items() if placeholder in text]


def test_without_them_the_provider_keeps_its_defaults() -> None:
    (provider,) = rendered("dev").of_type(T_PROVIDER)
    assert "token" not in provider.inputs  # GITHUB_TOKEN from the environment, as before
    assert provider.inputs["baseUrl"] == "https://api.github.com/"  # the SDK's default


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        (
            {"github:token": "ghp_plaintext"},
            "Pulumi.dev.yaml: github:token looks like a secret but is in plain text: remove it "
            "from the file, rotate it, and set it with pulumi config set --secret",
        ),
        (
            {"github:baseUrl": "github.example.com"},
            "Pulumi.dev.yaml: github:baseUrl must be an absolute http(s) URL such as "
            "https://github.example.com/ (GitHub Enterprise Server) (got github.example.com)",
        ),
        (
            {"github:baseUrl": "http://github.com/"},
            "Pulumi.dev.yaml: github:baseUrl must use https for github.com and ghe.com "
            "(got http://github.com/)",
        ),
        (
            {"github:baseUrl": "https://api.github.com/api/v3/"},
            "Pulumi.dev.yaml: github:baseUrl must not contain a path for github.com and ghe.com "
            "(got https://api.github.com/api/v3/)",
        ),
        (
            {"github:baseUrl": "http://acme.ghe.com/"},
            "Pulumi.dev.yaml: github:baseUrl must use https for github.com and ghe.com "
            "(got http://acme.ghe.com/)",
        ),
        (
            {"github:basUrl": GHES},
            "Pulumi.dev.yaml: github:basUrl is not read by this program (it reads only baseUrl, "
            "owner, token from github:); did you mean baseUrl?",
        ),
        (
            {"github:insecure": "true"},
            "Pulumi.dev.yaml: github:insecure is not read by this program (it reads only "
            "baseUrl, owner, token from github:)",
        ),
    ],
)
def test_provider_settings_github_would_refuse_are_one_line_each(
    changes: dict[str, object], line: str
) -> None:
    assert config_problems("dev", changes) == [line]


def test_a_base_url_set_as_a_secret_is_never_shown() -> None:
    problems = config_problems("dev", {"github:baseUrl": {"secure": "v1:abc"}})
    assert problems == [
        "Pulumi.dev.yaml: github:baseUrl must be an absolute http(s) URL such as "
        "https://github.example.com/ (GitHub Enterprise Server) (got [secret])"
    ]


@pytest.mark.parametrize(
    "url",
    [
        "http://www.github.com/",
        "http://api.github.com./",
        "http://uploads.github.com/",
        "http://github.example.com/",
    ],
)
def test_a_token_never_goes_over_plain_http(url: str) -> None:
    """The provider itself would take these for Enterprise Server and send the token in the
    clear; the config refuses them (http only for a loopback stand-in)."""
    (problem,) = config_problems("dev", {"github:baseUrl": url})
    assert "must use https" in problem


@pytest.mark.parametrize(
    "url", [GHES, "http://127.0.0.1:8080/", "https://api.acme.ghe.com/", "https://github.com/"]
)
def test_urls_the_provider_accepts_render(url: str) -> None:
    (provider,) = render_variant("dev", {"github:baseUrl": url}).of_type(T_PROVIDER)
    assert provider.inputs["baseUrl"] == url
