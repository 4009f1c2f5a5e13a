"""Errors end as one line and the exit code of their class; --debug, --quiet, JSON logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from moby_assemble._cli._exit import EXIT_CODES_HELP, exit_code_for
from moby_assemble._errors import (
    AuthenticationError,
    ConfigError,
    ImageReferenceError,
    IntegrityError,
    LayerError,
    LockMismatchError,
    OfflineError,
    OutputError,
    SignatureError,
)
from moby_assemble.registry import Puller
from moby_assemble.testing import LocalRegistry

from .conftest import Invoke, PushedImage


def test_a_bad_reference_is_one_line_and_exit_3(invoke: Invoke) -> None:
    result = invoke("inspect", "Not A Reference", code=3)
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("moby-assemble: error: invalid image reference 'Not A Reference'")
    assert "Traceback" not in result.stderr


def test_debug_adds_the_traceback(invoke: Invoke) -> None:
    result = invoke("--debug", "inspect", "Not A Reference", code=3)
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "ImageReferenceError" in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("moby-assemble: error: invalid image reference")


def test_a_missing_image_is_a_registry_error_naming_it(
    invoke: Invoke, registry: LocalRegistry
) -> None:
    result = invoke("inspect", f"{registry.host}/cli/does-not-exist:1", code=4)
    (line,) = result.stderr.splitlines()
    assert "cli/does-not-exist" in line


def test_json_log_format_writes_errors_as_json_objects(
    invoke: Invoke, registry: LocalRegistry
) -> None:
    ref = f"{registry.host}/cli/does-not-exist:1"
    result = invoke("--log-format", "json", "inspect", ref, code=4)
    (line,) = result.stderr.splitlines()
    record = json.loads(line)
    assert record["level"] == "error"
    assert record["error"] == "NotFoundError"
    assert record["exit_code"] == 4
    assert record["registry"] == registry.host
    assert "cli/does-not-exist" in record["message"]
    assert record["time"].endswith("Z")


def test_json_log_format_makes_every_stderr_line_json(
    invoke: Invoke, single_image: PushedImage, tmp_path: Path
) -> None:
    result = invoke(
        "--log-format", "json", "-vv", "pull", "--cache", tmp_path / "c", single_image.reference
    )
    records = [json.loads(line) for line in result.stderr.splitlines()]
    started = {r["digest"] for r in records if r.get("event") == "blob_started"}
    finished = {r["digest"] for r in records if r.get("event") == "blob_finished"}
    assert set(single_image.layer_digests) <= started
    assert started == finished
    logs = [r for r in records if "logger" in r]
    assert logs, "-vv shows the library's debug log"
    assert all(r["logger"].startswith("moby_assemble") for r in logs)
    assert result.stdout.strip().endswith(single_image.digest)


def test_quiet_keeps_stderr_empty(
    invoke: Invoke, single_image: PushedImage, tmp_path: Path
) -> None:
    cache = tmp_path / "c"
    result = invoke("-q", "pull", "--cache", cache, single_image.reference)
    assert result.stderr == ""
    result = invoke("-q", "cache", "rm", "--cache", cache, single_image.reference)
    assert result.stderr == ""


def test_plain_progress_lines_go_to_stderr_and_results_to_stdout(
    invoke: Invoke, single_image: PushedImage, tmp_path: Path
) -> None:
    result = invoke(
        "--progress", "plain", "pull", "--cache", tmp_path / "c", single_image.reference
    )
    assert result.stdout.strip() == f"{single_image.reference}@{single_image.digest}"
    for digest in single_image.layer_digests:
        short = digest[:19]
        assert f"blob {short} started" in result.stderr
        assert f"blob {short} done" in result.stderr


def test_an_unexpected_exception_is_an_internal_error_with_exit_70(
    invoke: Invoke, single_image: PushedImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No real peer makes the library raise a non-library exception; that is a bug by
    # definition, so one is planted.
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("planted bug")

    monkeypatch.setattr(Puller, "pull_many", broken)
    result = invoke("pull", "--cache", tmp_path / "c", single_image.reference, code=70)
    (line,) = result.stderr.splitlines()
    assert "internal error: RuntimeError: planted bug" in line
    assert "--debug" in line


def test_unknown_options_are_usage_errors(invoke: Invoke) -> None:
    result = invoke("pull", "--no-such-option", "x", code=2)
    assert "No such option" in result.stderr


def test_help_shows_the_exit_code_table(invoke: Invoke) -> None:
    out = invoke("--help").stdout
    assert "Exit codes:" in out
    assert "4 registry/auth" in out
    assert EXIT_CODES_HELP.splitlines()[1].strip() in out


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("bad", path="services[0]"), 3),
        (ImageReferenceError("x y", "space"), 3),
        (AuthenticationError("401", registry="r"), 4),
        (IntegrityError("digest mismatch"), 5),
        (OfflineError("offline", reference="r"), 6),
        (SignatureError("unsigned"), 7),
        (OutputError("disk full"), 8),
        (LockMismatchError("stale lock"), 9),
        (LayerError("unsafe path"), 1),
        (ValueError("bug"), 70),
    ],
)
def test_exit_code_per_error_class(error: BaseException, code: int) -> None:
    assert exit_code_for(error) == code


def test_logging_is_restored_after_a_command(invoke: Invoke, tmp_path: Path) -> None:
    logger = logging.getLogger("moby_assemble")
    before = (list(logger.handlers), logger.level, logger.propagate)
    invoke("-vv", "cache", "ls", "--cache", tmp_path / "c")
    invoke("inspect", "Not A Reference", code=3)
    assert (list(logger.handlers), logger.level, logger.propagate) == before
