"""Finding the ``.deb`` files a recipe names: in a directory, or fetched with ``apt-get download``.

With apt allowed, ``apt-get download --print-uris name:arch[=version]`` first says which file
apt's candidate (or the pinned version) is and its SHA-256; a file of that name and hash
already in the directory is used as-is, anything else is downloaded (into a temporary
directory, then renamed, so concurrent builds sharing the directory never see half a file)
and checked against apt's hash. Without apt, the directory's ``.deb`` files are indexed by
their ``control`` fields (not their file names) and the pinned version, or else the newest
(dpkg's version order), is taken.

Example::

    debs = DebSource("~/.cache/moby-assemble/debs", apt=True)
    deb = debs.fetch("runc", version="1.1.5+ds1-1+deb12u1", architecture="amd64")
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from .._errors import ConfigError, IntegrityError, LayerError
from .._platform import Platform
from ._deb import DebPackage

__all__ = [
    "DebRequest",
    "DebSource",
    "compare_versions",
    "debian_architecture",
    "default_cache_dir",
]

logger = logging.getLogger("moby_assemble.pkg")

_PRINT_URIS_RE = re.compile(r"^'(?P<uri>[^']+)' (?P<file>\S+) (?P<size>\d+) (?P<hash>\S+)$")
_DEPENDS_RE = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9+.-]+)(?::\S+)?"
    r"(?:\s*\((?P<op>[<>=]+)\s*(?P<version>[^)\s]+)\))?$"
)
_APT_TIMEOUT = 600

_ARCHITECTURES = {
    ("amd64", None): "amd64",
    ("arm64", None): "arm64",
    ("arm", "v7"): "armhf",
    ("arm", "v6"): "armel",
    ("arm", "v5"): "armel",
    ("386", None): "i386",
    ("ppc64le", None): "ppc64el",
    ("s390x", None): "s390x",
    ("riscv64", None): "riscv64",
    ("mips64le", None): "mips64el",
}


def debian_architecture(platform: Platform) -> str:
    """Debian's name for a platform's architecture (``linux/arm/v7`` → ``armhf``).

    Raises:
        ConfigError: Debian has no such architecture.

    Example::

        >>> debian_architecture(Platform.parse("linux/arm64/v8"))
        'arm64'
    """
    arch = _ARCHITECTURES.get((platform.architecture, platform.variant))
    if arch is None or platform.os != "linux":
        raise ConfigError(f"Debian has no architecture for platform {platform}", path="platforms")
    return arch


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/moby-assemble/debs`` (``~/.cache/moby-assemble/debs``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "moby-assemble" / "debs"


# -- dpkg version order (Debian policy 5.6.12) ---------------------------------------------------


def _order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _compare_part(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return -1 if first_diff < 0 else 1
    return 0


def _split_version(v: str) -> tuple[int, str, str]:
    epoch = 0
    if ":" in v:
        e, v = v.split(":", 1)
        epoch = int(e) if e.isdigit() else 0
    upstream, _, revision = v.rpartition("-") if "-" in v else (v, "", "")
    return epoch, upstream, revision


def compare_versions(a: str, b: str) -> int:
    """Compare two Debian versions like ``dpkg --compare-versions``: -1, 0 or 1.

    Example::

        >>> compare_versions("1:1.0", "2.0"), compare_versions("1.0~rc1", "1.0"), \\
        ...     compare_versions("1.0-1", "1.0-1")
        (1, -1, 0)
    """
    ea, ua, ra = _split_version(a)
    eb, ub, rb = _split_version(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_part(ua, ub) or _compare_part(ra, rb)


# -- sources -------------------------------------------------------------------------------------


def first_dependency(depends: str) -> tuple[str, str | None] | None:
    """The first package of a ``Depends`` field and its version if pinned with ``=``.

    Example::

        >>> first_dependency("linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2), foo | bar")
        ('linux-image-6.1.0-56-cloud-amd64', '6.1.192-2')
    """
    first = depends.split(",", 1)[0].split("|", 1)[0].strip()
    m = _DEPENDS_RE.match(first)
    if not m:
        return None
    return m.group("name"), m.group("version") if m.group("op") == "=" else None


@attrs.frozen
class DebRequest:
    """One package a recipe asks for: name, optional version, Debian architecture, and the
    recipe path of the entry (for error messages)."""

    name: str
    version: str | None = None
    architecture: str = "amd64"
    where: str = "packages"

    @property
    def spec(self) -> str:
        """What apt-get is given: ``name:arch[=version]``."""
        return f"{self.name}:{self.architecture}" + (f"={self.version}" if self.version else "")


class DebSource:
    """Where ``.deb`` files come from: a directory, filled by ``apt-get download`` if allowed.

    Args:
        directory: the directory holding (and receiving) ``.deb`` files; created if needed.
        apt: whether ``apt-get download`` may be run for packages the directory lacks.
    """

    def __init__(
        self, directory: str | os.PathLike[str] | None = None, *, apt: bool = True
    ) -> None:
        self.directory = Path(directory).expanduser() if directory else default_cache_dir()
        self.apt = apt
        self._index: dict[tuple[str, str], list[DebPackage]] | None = None

    def __repr__(self) -> str:
        return f"DebSource({str(self.directory)!r}, apt={self.apt})"

    def fetch(
        self,
        name: str,
        *,
        version: str | None = None,
        architecture: str = "amd64",
        where: str = "packages",
        recipe_file: str | None = None,
    ) -> DebPackage:
        """The ``.deb`` of ``name`` (at ``version``) for ``architecture`` (or ``all``).

        Args:
            name: the package.
            version: the exact version, or ``None`` for apt's candidate / the newest here.
            architecture: Debian architecture of the target.
            where, recipe_file: the recipe entry asking, for error messages.

        Raises:
            ConfigError: the package (version) is not available, or apt-get failed.
            IntegrityError: a download does not match the hash in apt's index.
            LayerError: the file is not a valid Debian package.
        """
        request = DebRequest(name, version, architecture, where)
        return self.fetch_all([request], recipe_file=recipe_file)[0]

    def fetch_all(
        self, requests: Sequence[DebRequest], *, recipe_file: str | None = None
    ) -> list[DebPackage]:
        """Several packages at once (one ``apt-get`` run to resolve, one to download).

        Returns the packages in the order of ``requests``. Raises like :meth:`fetch`; the
        error names the request apt complained about when it can tell.
        """
        if not requests:
            return []
        if self.apt:
            return self._fetch_apt(requests, recipe_file)
        return [
            self._fetch_local(r.name, r.version, r.architecture, r.where, recipe_file)
            for r in requests
        ]

    # -- from the directory ----------------------------------------------------------------------

    def _scan(self) -> dict[tuple[str, str], list[DebPackage]]:
        if self._index is None:
            index: dict[tuple[str, str], list[DebPackage]] = {}
            if self.directory.is_dir():
                for path in sorted(self.directory.glob("*.deb")):
                    try:
                        deb = DebPackage.open(path)
                    except (LayerError, OSError) as e:
                        logger.warning("ignoring %s: %s", path, e)
                        continue
                    index.setdefault((deb.name, deb.architecture), []).append(deb)
            self._index = index
        return self._index

    def _fetch_local(
        self, name: str, version: str | None, arch: str, where: str, recipe_file: str | None
    ) -> DebPackage:
        index = self._scan()
        candidates = index.get((name, arch), []) + index.get((name, "all"), [])
        if version is not None:
            candidates = [d for d in candidates if d.version == version]
        if not candidates:
            wanted = f"{name} {version}" if version else name
            have = sorted({d.version for a in (arch, "all") for d in index.get((name, a), [])})
            hint = f" (versions there: {', '.join(have)})" if have else ""
            raise ConfigError(
                f"no .deb of {wanted} for {arch} in {self.directory}{hint}, and apt is not allowed",
                path=where,
                file=recipe_file,
            )
        best = candidates[0]
        for deb in candidates[1:]:
            if compare_versions(deb.version, best.version) > 0:
                best = deb
        return best

    # -- with apt-get -----------------------------------------------------------------------------

    def _apt_get(
        self,
        args: list[str],
        cwd: Path | None,
        what: str,
        where_for: Callable[[str], str],
        recipe_file: str | None,
    ) -> str:
        apt_get = shutil.which("apt-get")
        if apt_get is None:
            raise ConfigError(
                f"cannot fetch {what}: apt-get is not installed (put the .deb files in a "
                "directory and build with apt=False)",
                path=where_for(""),
                file=recipe_file,
            )
        env = {**os.environ, "LC_ALL": "C"}
        try:
            proc = subprocess.run(
                [apt_get, "-q", *args],
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=_APT_TIMEOUT,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ConfigError(
                f"apt-get {args[0]} {what} did not finish in {_APT_TIMEOUT}s",
                path=where_for(""),
                file=recipe_file,
            ) from None
        if proc.returncode != 0:
            errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("E:")]
            detail = (errors or proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ConfigError(
                f"apt-get {args[0]} {what} failed: {detail}",
                path=where_for(detail),
                file=recipe_file,
            )
        return proc.stdout

    def _fetch_apt(
        self, requests: Sequence[DebRequest], recipe_file: str | None
    ) -> list[DebPackage]:
        specs = [r.spec for r in requests]
        what = " ".join(specs)

        def where_for(message: str) -> str:
            for r in requests:
                if f"'{r.name}'" in message or f" {r.name}:" in message or f" {r.name} " in message:
                    return r.where
            return requests[0].where if len(requests) == 1 else "packages"

        out = self._apt_get(
            ["download", "--print-uris", *specs], None, what, where_for, recipe_file
        )
        files: dict[str, tuple[str, str]] = {}
        for m in map(_PRINT_URIS_RE.match, out.splitlines()):
            if m is None:
                continue
            filename = m.group("file")
            if "/" in filename or filename.startswith(".") or "_" not in filename:
                raise ConfigError(
                    f"apt named an odd file {filename!r} for {what}", file=recipe_file
                )
            algorithm, _, expected = m.group("hash").partition(":")
            files[filename.split("_", 1)[0]] = (
                filename,
                expected.lower() if algorithm.upper() == "SHA256" else "",
            )
        missing_files = [r for r in requests if r.name not in files]
        if missing_files:
            raise ConfigError(
                f"apt-get download --print-uris named no file for {missing_files[0].spec}",
                path=missing_files[0].where,
                file=recipe_file,
            )
        to_download = []
        for r in requests:
            filename, expected = files[r.name]
            target = self.directory / filename
            if target.is_file() and (not expected or DebPackage.open(target).sha256 == expected):
                logger.debug("using cached %s", target)
                continue
            if target.is_file():
                logger.warning("%s does not match apt's hash; downloading it again", target)
            to_download.append(r)
        if to_download:
            self._download(to_download, files, where_for, recipe_file)
        return [DebPackage.open(self.directory / files[r.name][0]) for r in requests]

    def _download(
        self,
        requests: list[DebRequest],
        files: dict[str, tuple[str, str]],
        where_for: Callable[[str], str],
        recipe_file: str | None,
    ) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        specs = [r.spec for r in requests]
        with tempfile.TemporaryDirectory(dir=self.directory, prefix=".download-") as tmp:
            self._apt_get(["download", *specs], Path(tmp), " ".join(specs), where_for, recipe_file)
            for r in requests:
                filename, expected = files[r.name]
                got = Path(tmp) / filename
                if not got.is_file():
                    raise ConfigError(
                        f"apt-get download {r.spec} did not produce {filename}",
                        path=r.where,
                        file=recipe_file,
                    )
                deb = DebPackage.open(got)
                if expected and deb.sha256 != expected:
                    raise IntegrityError(
                        f"{filename}: downloaded file hashes to sha256:{deb.sha256}, apt's "
                        f"index says sha256:{expected}",
                        digest=f"sha256:{expected}",
                        actual=f"sha256:{deb.sha256}",
                        subject=filename,
                    )
                os.replace(got, self.directory / filename)
                logger.info("downloaded %s (%d bytes)", filename, deb.size)
        self._index = None
