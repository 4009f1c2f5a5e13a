"""Docker config.json credentials: auths, credsStore, credHelpers through a real helper program."""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
from pathlib import Path

import pytest

from moby_assemble._errors import AuthenticationError, ConfigError
from moby_assemble.registry._credentials import (
    DOCKER_HUB_CONFIG_KEY,
    CredentialProvider,
    Credentials,
    DockerConfig,
    StaticCredentials,
    default_config_paths,
    normalise_registry,
)

SECRET = "pa55-w0rd-never-shown"
TOKEN = "identity-token-never-shown"

# A real credential helper: docker-credential-helpers' protocol (server URL on stdin, JSON out),
# backed by a JSON file; every call is appended to a log so tests can count them.
HELPER = r"""#!{python}
import json, os, sys
store = json.load(open(os.environ["MYTEST_STORE"]))
if sys.argv[1:] != ["get"]:
    sys.exit(2)
server = sys.stdin.read().strip()
with open(os.environ["MYTEST_LOG"], "a") as log:
    log.write(os.path.basename(sys.argv[0]) + " " + server + "\n")
if store.get("__fail__"):
    print("helper exploded: " + store["__fail__"], file=sys.stderr)
    sys.exit(3)
if store.get("__garbage__"):
    print("not json")
    sys.exit(0)
if server not in store:
    print("credentials not found in native keychain")
    sys.exit(1)
user, secret = store[server]
print(json.dumps({{"ServerURL": server, "Username": user, "Secret": secret}}))
"""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Helper:
    """The docker-credential-* programs on PATH and their shared store."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.store = directory / "store.json"
        self.log = directory / "calls.log"
        self.store.write_text("{}")

    def install(self, name: str) -> None:
        exe = self.directory / f"docker-credential-{name}"
        exe.write_text(HELPER.format(python=sys.executable))
        exe.chmod(0o755)

    def set(self, entries: dict[str, object]) -> None:
        self.store.write_text(json.dumps(entries))

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Helper:
    directory = tmp_path / "bin"
    directory.mkdir()
    h = Helper(directory)
    h.install("mytest")
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("MYTEST_STORE", str(h.store))
    monkeypatch.setenv("MYTEST_LOG", str(h.log))
    return h


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty $DOCKER_CONFIG directory, with every other credential file out of the way."""
    directory = tmp_path / "docker"
    directory.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    return directory / "config.json"


def write(path: Path, config: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    return path


# --- values ----------------------------------------------------------------------------------


def test_credentials_repr_hides_secrets() -> None:
    text = repr(Credentials("alice", SECRET, TOKEN))
    assert "alice" in text
    assert SECRET not in text
    assert TOKEN not in text
    assert str(Credentials("alice", SECRET)) == (
        "Credentials(username='alice', password='***', identity_token=None)"
    )


def test_providers_satisfy_the_protocol() -> None:
    assert isinstance(DockerConfig(paths=[]), CredentialProvider)
    assert isinstance(StaticCredentials({}), CredentialProvider)


def test_static_credentials_fold_docker_hub_aliases() -> None:
    creds = Credentials("u", SECRET)
    static = StaticCredentials({"https://index.docker.io/v1/": creds})
    assert static.get("docker.io") is creds
    assert static.get("registry-1.docker.io") is creds
    assert static.get("ghcr.io") is None
    assert SECRET not in repr(static)


@pytest.mark.parametrize(
    ("key", "registry"),
    [
        ("https://index.docker.io/v1/", "docker.io"),
        ("index.docker.io", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("docker.io", "docker.io"),
        ("https://ghcr.io", "ghcr.io"),
        ("http://localhost:5000/v2/", "localhost:5000"),
        ("Example.COM", "example.com"),
        ("quay.io/namespace", None),
        ("https://", None),
    ],
)
def test_normalise_registry(key: str, registry: str | None) -> None:
    assert normalise_registry(key) == registry


# --- where files are looked for --------------------------------------------------------------


def test_default_paths_honour_docker_config_and_registry_auth_file(tmp_path: Path) -> None:
    env = {
        "HOME": str(tmp_path),
        "DOCKER_CONFIG": str(tmp_path / "dc"),
        "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
    }
    assert default_config_paths(env) == (
        tmp_path / "auth.json",
        tmp_path / "dc" / "config.json",
        tmp_path / "run" / "containers" / "auth.json",
        tmp_path / ".config" / "containers" / "auth.json",
    )
    assert default_config_paths({"HOME": str(tmp_path)})[0] == tmp_path / ".docker" / "config.json"


def test_docker_config_env_is_used_by_default(docker_config: Path) -> None:
    write(docker_config, {"auths": {"ghcr.io": {"auth": _b64(f"bob:{SECRET}")}}})
    assert DockerConfig().get("ghcr.io") == Credentials("bob", SECRET)


def test_podman_auth_json_is_read_after_docker_config(docker_config: Path, tmp_path: Path) -> None:
    write(docker_config, {"auths": {"a.io": {"auth": _b64("docker:1")}}})
    write(
        tmp_path / "run" / "containers" / "auth.json",
        {"auths": {"a.io": {"auth": _b64("podman:2")}, "b.io": {"auth": _b64("podman:3")}}},
    )
    config = DockerConfig()
    assert config.get("a.io") == Credentials("docker", "1")
    assert config.get("b.io") == Credentials("podman", "3")


def test_registry_auth_file_comes_first(
    docker_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(docker_config, {"auths": {"a.io": {"auth": _b64("docker:1")}}})
    monkeypatch.setenv(
        "REGISTRY_AUTH_FILE",
        str(write(tmp_path / "x.json", {"auths": {"a.io": {"auth": _b64("file:2")}}})),
    )
    assert DockerConfig().get("a.io") == Credentials("file", "2")


def test_missing_files_mean_no_credentials(docker_config: Path) -> None:
    assert DockerConfig().get("ghcr.io") is None


# --- auths -----------------------------------------------------------------------------------


def test_docker_hub_credentials_are_found_under_index_v1(docker_config: Path) -> None:
    write(docker_config, {"auths": {DOCKER_HUB_CONFIG_KEY: {"auth": _b64(f"hubuser:{SECRET}")}}})
    config = DockerConfig()
    assert config.get("docker.io") == Credentials("hubuser", SECRET)
    assert config.get("index.docker.io") == Credentials("hubuser", SECRET)


def test_password_may_contain_colons(docker_config: Path) -> None:
    write(docker_config, {"auths": {"a.io": {"auth": _b64("u:p:a:ss")}}})
    assert DockerConfig().get("a.io") == Credentials("u", "p:a:ss")


def test_username_and_password_fields(docker_config: Path) -> None:
    write(docker_config, {"auths": {"https://a.io": {"username": "u", "password": SECRET}}})
    assert DockerConfig().get("a.io") == Credentials("u", SECRET)


def test_identity_token_entry(docker_config: Path) -> None:
    write(
        docker_config,
        {"auths": {"a.io": {"auth": _b64("u:"), "identitytoken": TOKEN}}},
    )
    assert DockerConfig().get("a.io") == Credentials("u", None, TOKEN)


def test_exact_key_beats_normalised_one(docker_config: Path) -> None:
    write(
        docker_config,
        {
            "auths": {
                "https://a.io/v2/": {"auth": _b64("late:1")},
                "a.io": {"auth": _b64("exact:2")},
            }
        },
    )
    assert DockerConfig().get("a.io") == Credentials("exact", "2")


def test_namespaced_podman_keys_are_not_registry_wide(docker_config: Path) -> None:
    write(docker_config, {"auths": {"a.io/team": {"auth": _b64("u:p")}}})
    assert DockerConfig().get("a.io") is None


def test_empty_entries_are_skipped(docker_config: Path) -> None:
    write(docker_config, {"auths": {"a.io": {}}})
    assert DockerConfig().get("a.io") is None


def test_malformed_json_is_a_config_error_naming_the_file(docker_config: Path) -> None:
    docker_config.write_text('{"auths": {"a.io": {"auth": "' + SECRET)
    with pytest.raises(ConfigError) as info:
        DockerConfig().get("a.io")
    assert str(docker_config) in str(info.value)
    assert SECRET not in str(info.value)


def test_bad_base64_names_the_field_not_the_value(docker_config: Path) -> None:
    write(docker_config, {"auths": {"a.io": {"auth": SECRET}}})
    with pytest.raises(ConfigError) as info:
        DockerConfig().get("a.io")
    assert "auths['a.io'].auth" in str(info.value)
    assert info.value.file == str(docker_config)
    assert SECRET not in str(info.value)


# --- credential helpers ----------------------------------------------------------------------


def test_creds_store_runs_the_helper_with_the_server_url(
    docker_config: Path, helper: Helper
) -> None:
    write(docker_config, {"credsStore": "mytest", "auths": {"a.io": {}}})
    helper.set({"a.io": ["alice", SECRET], DOCKER_HUB_CONFIG_KEY: ["hub", SECRET]})
    config = DockerConfig()
    assert config.get("a.io") == Credentials("alice", SECRET)
    assert config.get("docker.io") == Credentials("hub", SECRET)
    assert helper.calls() == [
        "docker-credential-mytest a.io",
        f"docker-credential-mytest {DOCKER_HUB_CONFIG_KEY}",
    ]


def test_cred_helpers_win_over_creds_store(docker_config: Path, helper: Helper) -> None:
    helper.install("other")
    write(docker_config, {"credsStore": "mytest", "credHelpers": {"b.io": "other"}})
    helper.set({"b.io": ["bob", SECRET]})
    assert DockerConfig().get("b.io") == Credentials("bob", SECRET)
    assert helper.calls() == ["docker-credential-other b.io"]


def test_helper_token_user_means_identity_token(docker_config: Path, helper: Helper) -> None:
    write(docker_config, {"credHelpers": {"a.io": "mytest"}})
    helper.set({"a.io": ["<token>", TOKEN]})
    assert DockerConfig().get("a.io") == Credentials(None, None, TOKEN)


def test_helper_not_found_falls_back_to_auths(docker_config: Path, helper: Helper) -> None:
    write(docker_config, {"credsStore": "mytest", "auths": {"a.io": {"auth": _b64("file:pw")}}})
    assert DockerConfig().get("a.io") == Credentials("file", "pw")
    assert helper.calls() == ["docker-credential-mytest a.io"]


def test_missing_helper_program_is_skipped_with_a_warning(
    docker_config: Path, helper: Helper, caplog: pytest.LogCaptureFixture
) -> None:
    write(docker_config, {"credsStore": "desktop"})
    with caplog.at_level(logging.WARNING, logger="moby_assemble"):
        assert DockerConfig().get("a.io") is None
    assert "docker-credential-desktop" in caplog.text


def test_failing_helper_is_an_authentication_error_without_its_output(
    docker_config: Path, helper: Helper
) -> None:
    write(docker_config, {"credsStore": "mytest"})
    helper.set({"__fail__": SECRET})
    with pytest.raises(AuthenticationError) as info:
        DockerConfig().get("a.io")
    assert "docker-credential-mytest" in str(info.value)
    assert "a.io" in str(info.value)
    assert "exit status 3" in str(info.value)
    assert info.value.registry == "a.io"
    assert SECRET not in str(info.value)


def test_helper_printing_garbage_is_an_authentication_error(
    docker_config: Path, helper: Helper
) -> None:
    write(docker_config, {"credsStore": "mytest"})
    helper.set({"__garbage__": True})
    with pytest.raises(AuthenticationError, match="no JSON object"):
        DockerConfig().get("a.io")


def test_helper_found_through_explicit_env(tmp_path: Path, helper: Helper) -> None:
    config = write(tmp_path / "c.json", {"credsStore": "mytest"})
    helper.set({"a.io": ["alice", SECRET]})
    env = {
        "PATH": str(helper.directory),
        "MYTEST_STORE": str(helper.store),
        "MYTEST_LOG": str(helper.log),
    }
    assert DockerConfig(paths=[config], env=env).get("a.io") == Credentials("alice", SECRET)


def test_files_are_reread_on_each_lookup(docker_config: Path) -> None:
    config = DockerConfig()
    assert config.get("a.io") is None
    write(docker_config, {"auths": {"a.io": {"auth": _b64("u:p")}}})
    assert config.get("a.io") == Credentials("u", "p")
    assert str(docker_config) in repr(config)
