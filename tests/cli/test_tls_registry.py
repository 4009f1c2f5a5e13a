"""Credentials and custom CAs: the TLS + htpasswd registry, through the CLI's flags."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from moby_assemble.registry import (
    Credentials,
    ImageReference,
    RegistryClient,
    RegistryConfig,
    StaticCredentials,
    push_from_store,
)
from moby_assemble.store import Store
from moby_assemble.testing import LocalRegistry
from tests.conftest import TEST_PASSWORD, TEST_USER

from .conftest import Invoke, app_image


def _docker_config(path: Path, host: str, user: str, password: str) -> Path:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    return path


def _push_secure(reg: LocalRegistry, tmp_path: Path) -> str:
    assert reg.tls is not None
    images = app_image().build()
    images.write_oci_layout(tmp_path / "layout", "src")
    store = Store(tmp_path / "layout")
    ref = ImageReference.parse(f"{reg.host}/cli/secure:1")
    with RegistryClient(
        credentials=StaticCredentials({reg.host: Credentials(TEST_USER, TEST_PASSWORD)}),
        registries={reg.host: RegistryConfig(ca_bundle=str(reg.tls.ca_cert))},
    ) as client:
        push_from_store(client, store, store.resolve("src"), ref)
    return str(ref)


def test_pull_with_credentials_and_a_custom_ca(
    invoke: Invoke, tls_registry: LocalRegistry, tmp_path: Path
) -> None:
    assert tls_registry.tls is not None
    ref = _push_secure(tls_registry, tmp_path)
    config = _docker_config(tmp_path / "config.json", tls_registry.host, TEST_USER, TEST_PASSWORD)
    result = invoke(
        "-q",
        "--registry-ca",
        f"{tls_registry.host}={tls_registry.tls.ca_cert}",
        "--docker-config",
        config,
        "pull",
        "--cache",
        tmp_path / "cache",
        ref,
    )
    assert result.stdout.startswith(f"{ref}@sha256:")


def test_a_wrong_password_is_exit_4_and_never_shown(
    invoke: Invoke, tls_registry: LocalRegistry, tmp_path: Path
) -> None:
    assert tls_registry.tls is not None
    ref = _push_secure(tls_registry, tmp_path)
    secret = "not-the-password-7731"
    config = _docker_config(tmp_path / "config.json", tls_registry.host, TEST_USER, secret)
    for log_format in ("text", "json"):
        result = invoke(
            "--log-format",
            log_format,
            "-vv",
            "--debug",
            "--registry-ca",
            f"{tls_registry.host}={tls_registry.tls.ca_cert}",
            "--docker-config",
            config,
            "inspect",
            ref,
            code=4,
        )
        assert secret not in result.output
        assert base64.b64encode(f"{TEST_USER}:{secret}".encode()).decode() not in result.output
        assert "AuthenticationError" in result.stderr


def test_an_untrusted_certificate_is_a_registry_error(
    invoke: Invoke, tls_registry: LocalRegistry, tmp_path: Path
) -> None:
    result = invoke("inspect", f"{tls_registry.host}/cli/secure:1", code=4)
    assert tls_registry.host in result.stderr


def test_a_malformed_registry_ca_option_is_a_config_error(invoke: Invoke) -> None:
    result = invoke("--registry-ca", "no-equals-sign", "inspect", "127.0.0.1:1/x:1", code=3)
    assert "--registry-ca 'no-equals-sign': expected REGISTRY=VALUE" in result.stderr
