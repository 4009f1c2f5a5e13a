"""The hostile-input tables: layers, lying manifests, nested documents, YAML, credentials,
and the properties checked with hypothesis.

Rows only; the tests in this directory run them and ``docs/_gen/faults.py`` prints them.
Parameters that build inputs are callables, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from moby_assemble import (
    AuthenticationError,
    ConfigError,
    ImageReferenceError,
    IntegrityError,
    LayerError,
    LockError,
    PlatformError,
    RegistryTransportError,
    StoreError,
    UnsupportedError,
)
from moby_assemble.layers import EntryType, TarEntry
from moby_assemble.testing import Layer
from tests.faults._table import Case, Table

from . import _blobs
from ._blobs import GIB, from_layers

__all__ = [
    "CREDENTIALS",
    "DOCUMENTS",
    "LAYERS",
    "NESTING",
    "PROPERTIES",
    "TABLES",
    "YAML",
]

Entries = Mapping[str, TarEntry]

# -- layers ---------------------------------------------------------------------------------


def _check_devices(entries: Entries) -> None:
    kmsg, sda, fifo = entries["dev/kmsg"], entries["dev/sda"], entries["run/initctl"]
    assert (kmsg.type, kmsg.devmajor, kmsg.devminor, kmsg.mode) == (
        EntryType.CHAR_DEVICE, 1, 11, 0o644,
    )  # fmt: skip
    assert (sda.type, sda.devmajor, sda.devminor) == (EntryType.BLOCK_DEVICE, 8, 0)
    assert fifo.type is EntryType.FIFO


def _check_setuid(entries: Entries) -> None:
    assert entries["usr/bin/su"].mode == 0o4755
    assert (entries["usr/bin/su"].uid, entries["usr/bin/su"].gid) == (0, 0)


def _check_absolute_symlink(entries: Entries) -> None:
    link = entries["etc/localtime"]
    assert (link.type, link.linkname) == (EntryType.SYMLINK, "/usr/share/zoneinfo/UTC")


_MANY = 30_000


def _many_entries() -> Layer:
    def items() -> object:
        for i in range(_MANY // 1000):
            yield TarEntry(f"many/d{i:02d}", EntryType.DIRECTORY, 0o755), None
        for i in range(_MANY):
            yield TarEntry(f"many/d{i // 1000:02d}/f{i:05d}", size=2), b"%02d" % (i % 100)

    return Layer.generated(items)  # type: ignore[arg-type]


def _check_many(entries: Entries) -> None:
    files = [n for n, e in entries.items() if n.startswith("many/") and e.type is EntryType.FILE]
    assert len(files) == _MANY - 1
    assert "many/d29/f29999" in entries
    assert "many/d00/f00000" not in entries  # the upper layer's whiteout applied


_DEPTH = 2000
_DEEP = "/".join(["d"] * _DEPTH)


def _deep_explicit() -> Layer:
    layer = Layer()
    for i in range(1, _DEPTH + 1):
        layer = layer.dir("/".join(["d"] * i))
    return layer.file(f"{_DEEP}/f", b"bottom")


def _check_deep(entries: Entries) -> None:
    assert entries[f"{_DEEP}/f"].type is EntryType.FILE
    assert len(f"{_DEEP}/f") == 2 * _DEPTH + 1
    assert sum(1 for e in entries.values() if e.type is EntryType.DIRECTORY) >= _DEPTH


def _layer_case(
    id: str, given: str, outcome: str, error: type[BaseException] | None = None, **params: object
) -> Case:
    bug = params.pop("bug", None)
    return Case(id, given, outcome, error, "", params, bug)  # type: ignore[arg-type]


LAYERS = Table(
    title="Hostile layers",
    anchor="layers",
    test="tests/hostile/test_layers.py",
    intro=(
        "Each row is run twice: the layers are flattened with `flatten_layers` (the member "
        "and layer must be named in the error), and the same layers are pushed to the real "
        "registry as an image that a system uses as a service, which `Assembler.assemble` "
        "must refuse with the same error, leaving no bundle, no flat-cache entry and no "
        "temporary file behind, and a store that verifies clean. Nothing is ever extracted "
        "to the host: rows that succeed check the entries in the assembled root tar."
    ),
    cases=(
        _layer_case(
            "dotdot-name",
            "A member named `../escape`.",
            "`LayerError` naming the layer and the member: a `..` component could escape the "
            "image root.",
            LayerError,
            layers=from_layers(Layer().file("../escape", b"x")),
            member="../escape",
        ),
        _layer_case(
            "dotdot-inside-name",
            "A member named `usr/../../etc/passwd`.",
            "`LayerError` naming the member (names are never repaired into safety).",
            LayerError,
            layers=from_layers(Layer().dir("usr").file("usr/../../etc/passwd", b"root::0:0")),
            member="usr/../../etc/passwd",
        ),
        _layer_case(
            "absolute-name",
            "A member named `/etc/passwd`.",
            "`LayerError` naming the member: layers hold relative names.",
            LayerError,
            layers=from_layers(Layer().file("/etc/passwd", b"root::0:0")),
            member="/etc/passwd",
        ),
        _layer_case(
            "write-through-symlink",
            "A lower layer has `evil -> /etc`; an upper layer writes `evil/passwd`.",
            "`LayerError` naming `evil/passwd`: the write would go through the symlink, out "
            "of the image.",
            LayerError,
            layers=from_layers(
                Layer().symlink("evil", "/etc"), Layer().file("evil/passwd", b"root::0:0")
            ),
            member="evil/passwd",
        ),
        _layer_case(
            "write-through-symlink-same-layer",
            "One layer has `up -> ../../..` and then `up/etc/shadow`.",
            "`LayerError` naming `up/etc/shadow`.",
            LayerError,
            layers=from_layers(Layer().symlink("up", "../../..").file("up/etc/shadow", b"root:x")),
            member="up/etc/shadow",
        ),
        _layer_case(
            "hardlink-outside",
            "A hard link `x` to `../../etc/shadow`.",
            "`LayerError` naming the link: its target is outside the image.",
            LayerError,
            layers=from_layers(Layer().hardlink("x", "../../etc/shadow")),
            member="../../etc/shadow",
        ),
        _layer_case(
            "hardlink-absolute",
            "A hard link `x` to `/etc/shadow`.",
            "`LayerError` naming the link target.",
            LayerError,
            layers=from_layers(Layer().hardlink("x", "/etc/shadow")),
            member="/etc/shadow",
        ),
        _layer_case(
            "hardlink-to-missing",
            "A hard link `x` to `nothere`, which no layer has.",
            "`LayerError` naming the link.",
            LayerError,
            layers=from_layers(Layer().file("a", b"a").hardlink("x", "nothere")),
            member="x",
        ),
        _layer_case(
            "entry-inside-a-file",
            "A regular file `a`, then `a/b`.",
            "`LayerError` naming `a/b`: its parent is not a directory.",
            LayerError,
            layers=from_layers(Layer().file("a", b"a"), Layer().file("a/b", b"b")),
            member="a/b",
        ),
        _layer_case(
            "duplicate-member",
            "The same name twice in one layer.",
            "`LayerError` naming the member (the image-spec forbids duplicates).",
            LayerError,
            layers=from_layers(Layer().file("etc/x", b"1").file("etc/x", b"2")),
            member="etc/x",
        ),
        _layer_case(
            "whiteout-of-dotdot",
            "A whiteout marker `etc/.wh..` (it would delete `etc/..`).",
            "`LayerError` naming the marker.",
            LayerError,
            layers=from_layers(Layer().file("etc/a", b"a"), Layer().file("etc/.wh..", b"")),
            member="etc/.wh..",
        ),
        _layer_case(
            "device-nodes",
            "A character device `dev/kmsg` (1:11), a block device `dev/sda` (8:0) and a FIFO.",
            "Kept as tar entries with their type, numbers and mode; nothing is created on the "
            "host.",
            layers=from_layers(
                Layer()
                .dir("dev")
                .device("dev/kmsg", "c", 1, 11, mode=0o644)
                .device("dev/sda", "b", 8, 0)
                .dir("run")
                .fifo("run/initctl")
            ),
            check=_check_devices,
        ),
        _layer_case(
            "setuid-file",
            "A setuid-root file `usr/bin/su` (mode 4755).",
            "Kept as is, ownership and setuid bit included (no root needed: nothing is extracted).",
            layers=from_layers(Layer().dir("usr/bin").file("usr/bin/su", b"\x7fELF", mode=0o4755)),
            check=_check_setuid,
        ),
        _layer_case(
            "absolute-symlink",
            "A symlink `etc/localtime -> /usr/share/zoneinfo/UTC`.",
            "Kept verbatim: it is resolved inside the container at run time, never on the host.",
            layers=from_layers(
                Layer().dir("etc").symlink("etc/localtime", "/usr/share/zoneinfo/UTC")
            ),
            check=_check_absolute_symlink,
        ),
        _layer_case(
            "size-claim-100g",
            "A regular-file header claiming 100 GiB, followed by 4 KiB and the end of the blob.",
            "`LayerError`: the archive is truncated inside the member (nothing near 100 GiB "
            "is read or written).",
            LayerError,
            layers=_blobs.huge_size_claim,
            message="truncated",
            member="var/big",
            max_seconds=5.0,
        ),
        _layer_case(
            "sparse-gnu-100g",
            "A GNU sparse member (type `S`) claiming 100 GiB.",
            "`LayerError` naming the member: sparse files are not supported.",
            LayerError,
            layers=_blobs.gnu_sparse,
            message="sparse",
            member="var/sparse",
            max_seconds=5.0,
        ),
        _layer_case(
            "sparse-pax-100g",
            "A PAX 1.0 sparse member whose `GNU.sparse.realsize` is 100 GiB.",
            "`LayerError`: sparse files are not supported.",
            LayerError,
            layers=_blobs.pax_sparse,
            message="sparse",
            max_seconds=5.0,
        ),
        _layer_case(
            "huge-pax-header",
            "A PAX extended header claiming 2 MiB of records.",
            "`LayerError` before anything is buffered (records are bounded to 1 MiB).",
            LayerError,
            layers=_blobs.huge_pax_record,
            message="claims 2097152 bytes",
        ),
        _layer_case(
            "truncated-gzip",
            "A gzip layer cut off in the middle.",
            "`LayerError`: the gzip data is truncated.",
            LayerError,
            layers=_blobs.truncated_gzip,
            message="truncated",
        ),
        _layer_case(
            "gzip-bomb",
            "A 1 MiB gzip layer that inflates to 1 GiB of zeros; limit 64 MiB.",
            '`LayerError` ("possible decompression bomb") once 64 MiB have come out; '
            "less than 16 MiB of memory is used on the way.",
            LayerError,
            layers=_blobs.bomb("gzip", GIB),
            message="decompression bomb",
            max_size=64 << 20,
            e2e=False,
            max_seconds=10.0,
            max_memory=16 << 20,
        ),
        _layer_case(
            "zstd-bomb",
            "A 33 KiB zstd layer that inflates to 1 GiB of zeros; limit 64 MiB.",
            '`LayerError` ("possible decompression bomb") once 64 MiB have come out; '
            "less than 16 MiB of memory is used on the way.",
            LayerError,
            layers=_blobs.bomb("zstd", GIB),
            message="decompression bomb",
            max_size=64 << 20,
            e2e=False,
            max_seconds=10.0,
            max_memory=16 << 20,
        ),
        _layer_case(
            "bomb-through-assembler",
            "The 33 KiB zstd bomb as a service image, assembled with a 64 MiB layer limit.",
            '`LayerError` ("possible decompression bomb"); no bundle is left behind.',
            LayerError,
            layers=_blobs.bomb("zstd", GIB),
            message="decompression bomb",
            max_size=64 << 20,
            unit=False,
        ),
        _layer_case(
            "many-entries",
            f"A layer of {_MANY:,} files in 30 directories, and an upper layer whiting one out.",
            "Succeeds within seconds: every entry is there but the one whited out.",
            layers=from_layers(_many_entries(), Layer().whiteout("many/d00/f00000")),
            check=_check_many,
            max_seconds=30.0,
        ),
        _layer_case(
            "deep-directories",
            f"{_DEPTH:,} nested directories, each with its own entry, and a file at the "
            f"bottom (a {2 * _DEPTH + 1:,}-character name).",
            "Succeeds: long names travel in PAX records, every directory comes before its "
            "children.",
            layers=from_layers(_deep_explicit(), Layer().file("top", b"t")),
            check=_check_deep,
        ),
        _layer_case(
            "deep-directories-implicit",
            f"A file {_DEPTH:,} directories deep whose parents have no entries of their own, "
            "in a two-layer image.",
            "Succeeds: the missing parents are synthesised, outermost first.",
            layers=from_layers(Layer().file(f"{_DEEP}/f", b"bottom"), Layer().file("top", b"t")),
            check=lambda entries: _check_deep(entries),
        ),
        _layer_case(
            "diff-id-mismatch",
            "A layer whose image config `diff_id` is not the hash of its uncompressed bytes.",
            "`IntegrityError` naming the layer and both digests.",
            IntegrityError,
            layers=lambda: tuple(
                _blobs.RawLayer(raw.blob, raw.media_type, "sha256:" + "1" * 64)
                for raw in from_layers(Layer().file("etc/motd", b"hi\n"))()
            ),
            member=None,
            message="sha256:" + "1" * 64,
        ),
    ),
)


# -- manifests and indexes that lie -----------------------------------------------------------

DOCUMENTS = Table(
    title="Manifests and indexes that lie",
    anchor="documents",
    test="tests/hostile/test_documents.py",
    intro=(
        "The documents are pushed to the real registry as they are (it stores what it is "
        "given), or served by the FaultProxy or a tiny peer where a real registry would "
        "refuse them; `Puller.pull` pulls them into an empty store. Every row also checks "
        "that the store verifies clean and holds no blob that failed its check."
    ),
    cases=(
        Case(
            "layer-size-too-small",
            "The manifest says the layer has 100 bytes; it has 2,048.",
            "`IntegrityError` naming the layer: the registry announces more bytes than the "
            "descriptor; nothing is stored.",
            IntegrityError,
            params={"layer_size": 100},
        ),
        Case(
            "layer-size-too-large",
            "The manifest says the layer has 100 GiB; it has 2,048 bytes.",
            "`IntegrityError` naming the layer at once, without waiting for 100 GiB.",
            IntegrityError,
            params={"layer_size": 100 * GIB},
        ),
        Case(
            "config-size-wrong",
            "The manifest's config descriptor is 10 bytes short.",
            "`IntegrityError` naming the config.",
            IntegrityError,
            params={"config_size_delta": -10},
        ),
        Case(
            "config-too-large",
            "The manifest's config descriptor claims 1 GiB.",
            "`UnsupportedError` before the config is requested (configs are capped at 16 MiB).",
            UnsupportedError,
            params={"config_size": GIB},
        ),
        Case(
            "index-entry-size-wrong",
            "An index entry says its manifest is 20 bytes; the manifest is longer.",
            "`IntegrityError`: the manifest is larger than its descriptor.",
            IntegrityError,
            params={"entry_size": 20},
        ),
        Case(
            "index-entry-unknown-type",
            "The index's only `linux/amd64` entry has the media type "
            "`application/vnd.example.unknown+json` (the document behind it is an image "
            "manifest).",
            "`PlatformError` listing what the index offers: the image-spec says an unknown "
            "media type MUST be ignored, so the entry is never chosen.",
            PlatformError,
            params={"entry_media_type": "application/vnd.example.unknown+json"},
        ),
        Case(
            "unknown-layer-media-type",
            "A layer with media type `application/x-evil`.",
            "The pull stores it (verified); assembling refuses it with a `LayerError` naming "
            "the media type.",
            LayerError,
            params={"layer_media_type": "application/x-evil"},
        ),
        Case(
            "content-type-lie",
            "The registry labels an OCI manifest `application/vnd.docker.distribution."
            "manifest.list.v2+json`.",
            "`UnsupportedError`: the Content-Type contradicts the document's own media type.",
            UnsupportedError,
            params={"content_type": "application/vnd.docker.distribution.manifest.list.v2+json"},
        ),
        Case(
            "nested-index-too-deep",
            "The image is six indexes deep: the top index and five nested ones above the manifest.",
            "`UnsupportedError`: more than 4 nested indexes are refused.",
            UnsupportedError,
            params={"depth": 6},
        ),
        Case(
            "nested-index-ok",
            "The image is five indexes deep: the top index and four nested ones (the most "
            "allowed).",
            "Succeeds: nested indexes are searched, depth first.",
            params={"depth": 5},
        ),
        Case(
            "cyclic-index",
            "A peer answers every manifest request with one index whose nested entry names "
            "a digest for which the peer sends the same index again (a cycle; honest digests "
            "cannot form one).",
            "`IntegrityError`: the bytes sent for the nested digest do not hash to it, so the "
            "cycle is never followed.",
            IntegrityError,
            params={"peer": "cycle"},
        ),
        Case(
            "enormous-manifest",
            "A 5 MiB manifest (an annotation of 5 MiB), served by a peer: a registry refuses "
            "to store it.",
            "`UnsupportedError` naming the 4 MiB limit, from the announced length, before the "
            "body is read.",
            UnsupportedError,
            params={"peer": "enormous", "annotation_bytes": 5 << 20},
        ),
        Case(
            "enormous-index",
            "An index of 9,999 entries (2 MB), none for the wanted platform.",
            "`PlatformError` listing the platforms that exist (each once), quickly.",
            PlatformError,
            params={"entries": 9_999},
        ),
    ),
)


# -- deeply nested documents ------------------------------------------------------------------

NESTING = Table(
    title="Deeply nested documents",
    anchor="nesting",
    test="tests/hostile/test_nesting.py",
    intro=(
        "Small documents (a few kilobytes) that nest arrays thousands of levels deep, given "
        "to each parser the library exposes. Each must be refused with the library's own "
        "error for that input, not with a Python `RecursionError`."
    ),
    cases=(
        Case(
            "yaml-flow-nesting",
            "System YAML whose `services` is a flow sequence nested 1,000 deep (2 KB).",
            "`ConfigError` saying the document is nested too deeply.",
            ConfigError,
            params={"entry": "yaml"},
        ),
        Case(
            "yaml-block-nesting",
            "System YAML whose `files[0]` is a block mapping nested 600 levels deep.",
            "`ConfigError` saying the document is nested too deeply.",
            ConfigError,
            params={"entry": "yaml-block"},
        ),
        Case(
            "toml-nesting",
            "System TOML with an array nested 3,000 deep.",
            "`ConfigError` naming the problem.",
            ConfigError,
            params={"entry": "toml"},
        ),
        Case(
            "label-nesting",
            "An image's `org.mobyproject.config` label (JSON) nested 3,000 deep.",
            "`ConfigError` naming the image.",
            ConfigError,
            params={"entry": "label"},
        ),
        Case(
            "manifest-nesting",
            "A manifest pulled from the registry with an extra field nested 5,000 deep.",
            "`UnsupportedError` naming the image.",
            UnsupportedError,
            params={"entry": "manifest"},
        ),
        Case(
            "config-nesting",
            "An image config pulled from the registry with an extra field nested 5,000 deep.",
            "`UnsupportedError` naming the image and its config.",
            UnsupportedError,
            params={"entry": "config"},
        ),
        Case(
            "store-index-nesting",
            "A store's `index.json` (written by another tool) nested 5,000 deep.",
            "`StoreError` naming the file, from `Store.names()`; `Store.verify()` reports it "
            "as a problem.",
            StoreError,
            params={"entry": "store"},
        ),
        Case(
            "lock-nesting",
            "A lock file nested 5,000 deep.",
            "`LockError` naming the file.",
            LockError,
            params={"entry": "lock"},
        ),
    ),
)


# -- YAML -----------------------------------------------------------------------------------

_LAUGHS = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [
        f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]"
        for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)


def _yaml_case(
    id: str,
    given: str,
    outcome: str,
    text: str | bytes | Callable[[], str],
    path: str | None,
    **params: object,
) -> Case:
    bug = params.pop("bug", None)
    return Case(
        id,
        given,
        outcome,
        ConfigError,
        "",
        {"text": text, "path": path, **params},
        bug,  # type: ignore[arg-type]
    )


YAML = Table(
    title="Hostile YAML",
    anchor="yaml",
    test="tests/hostile/test_yaml.py",
    intro=(
        "`System.from_yaml` reads each document from a file. Every row must end in a "
        "`ConfigError` that names the file and, where there is one, the line and the field "
        "path, within a second."
    ),
    cases=(
        _yaml_case(
            "alias-bomb",
            "A 'billion laughs' document: 9 levels of 10 aliases each (1,000,000,000 values).",
            "`ConfigError` once 200,000 values have been expanded.",
            _LAUGHS + "\n",
            None,
            message="more than 200000 values",
        ),
        _yaml_case(
            "recursive-alias",
            "An alias used inside the node it names (`a: &a [*a]`).",
            "`ConfigError`: recursive alias.",
            "services: &a [*a]\n",
            None,
            message="recursive alias",
        ),
        _yaml_case(
            "python-tag",
            "`!!python/object/apply:os.system` with a command that would create a file.",
            "`ConfigError` (unsupported tag); nothing is executed.",
            "services: !!python/object/apply:os.system ['touch {marker}']\n",
            None,
            message="unsupported YAML tag",
            marker=True,
        ),
        _yaml_case(
            "unknown-top-level-key",
            "A top-level key `servces` (a typo).",
            "`ConfigError` at `servces`, listing the sections that exist.",
            "servces: []\n",
            "servces",
            message="sections: kernel, init",
        ),
        _yaml_case(
            "unknown-nested-key",
            "A service with an unknown key `bogus`.",
            "`ConfigError` at `services[0].bogus`.",
            "services:\n  - name: web\n    image: nginx:1.27\n    bogus: 1\n",
            "services[0].bogus",
            message="bogus",
        ),
        _yaml_case(
            "wrong-type-section",
            "`services: web` (a string where a list belongs).",
            "`ConfigError` at `services`.",
            "services: web\n",
            "services",
        ),
        _yaml_case(
            "wrong-type-field",
            "`capabilities: 5` in a service.",
            "`ConfigError` at `services[0].capabilities`.",
            "services:\n  - name: web\n    image: nginx:1.27\n    capabilities: 5\n",
            "services[0].capabilities",
        ),
        _yaml_case(
            "unquoted-mode",
            "`mode: 0644` unquoted in `files` (an integer, as in Go's yaml.v3).",
            "`ConfigError` at `files[0].mode`, as LinuxKit does.",
            "files:\n  - path: etc/motd\n    contents: hi\n    mode: 0644\n",
            "files[0].mode",
        ),
        _yaml_case(
            "duplicate-key",
            "The key `name` twice in one service.",
            "`ConfigError` at `services[0].name`: duplicate key.",
            "services:\n  - name: a\n    name: b\n    image: nginx:1.27\n",
            "services[0].name",
            message="duplicate key",
        ),
        _yaml_case(
            "huge-number",
            "A uid of 10^30.",
            "`ConfigError` at `services[0].uid`.",
            "services:\n  - name: a\n    image: nginx:1.27\n    uid: " + "1" + "0" * 30 + "\n",
            "services[0].uid",
        ),
        _yaml_case(
            "oversized-document",
            "A 17 MiB document.",
            "`ConfigError` before parsing: larger than 16 MiB.",
            lambda: "# " + "x" * (17 << 20) + "\n",
            None,
            message="larger than",
        ),
        _yaml_case(
            "not-utf8",
            "Bytes that are not UTF-8.",
            "`ConfigError`, not a `UnicodeDecodeError`.",
            b"services:\n  - name: \xff\xfe\n",
            None,
        ),
        _yaml_case(
            "control-character",
            "A control character (U+001F) inside a flow sequence.",
            "`ConfigError` naming the file: YAML does not allow the character.",
            "services: [a\x1f]\n",
            None,
        ),
        _yaml_case(
            "binary-garbage",
            "Random binary bytes.",
            "`ConfigError`.",
            bytes(range(256)) * 4,
            None,
        ),
        _yaml_case(
            "several-documents",
            "Two YAML documents in one file.",
            "`ConfigError`: a system is a single document.",
            "services: []\n---\nfiles: []\n",
            None,
            message="single document",
        ),
    ),
)


# -- credentials and TLS --------------------------------------------------------------------

CREDENTIALS = Table(
    title="Credentials and TLS",
    anchor="credentials",
    test="tests/hostile/test_credentials.py",
    intro=(
        "Against the TLS + htpasswd registry and a token-auth registry (a real token server "
        "issuing ES256 JWTs). Logs are captured at DEBUG level for the whole library."
    ),
    cases=(
        Case(
            "basic-secrets-never-leak",
            "A system assembled and written (`tar` output) from the TLS + Basic-auth registry "
            "with a user and password.",
            "Neither the password nor the Basic credential (`base64(user:password)`) appears "
            "in any log record, in the reprs of the client, credentials and assembler, in "
            "the lock file, in any file of the cache, or in the output.",
        ),
        Case(
            "wrong-password",
            "A wrong password for the TLS + Basic-auth registry.",
            "`AuthenticationError` naming the registry; neither password is in the message, "
            "the repr or the logs.",
            AuthenticationError,
        ),
        Case(
            "bearer-tokens-never-leak",
            "A pull from the token-auth registry with credentials (tokens are issued for "
            "every scope).",
            "No token (`eyJ…` JWT) and no password appears in any log record, any file of "
            "the store, or the reprs.",
        ),
        Case(
            "bearer-not-sent-cross-origin",
            "The token-auth registry redirects a layer download to another host (another "
            "port on 127.0.0.1: a different origin), as registries do to blob storage.",
            "The download follows the redirect and succeeds; the other host receives no "
            "`Authorization` header.",
        ),
        Case(
            "tls-verified-by-default",
            "The TLS registry with a certificate from a CA the client was not told about.",
            "`RegistryTransportError` saying the certificate is not trusted and how to "
            "configure a CA bundle; no plain-HTTP fallback, even on loopback.",
            RegistryTransportError,
        ),
        Case(
            "tls-ca-bundle",
            "The same registry with its CA given as `RegistryConfig(ca_bundle=…)`.",
            "The pull succeeds.",
        ),
        Case(
            "tls-insecure-opt-in",
            "The same registry marked `RegistryConfig(insecure=True)`.",
            "The pull succeeds without verification (the caller asked for it).",
        ),
    ),
)


# -- properties -----------------------------------------------------------------------------

PROPERTIES = Table(
    title="Properties (hypothesis)",
    anchor="properties",
    test="tests/hostile/test_properties.py",
    intro=(
        "Random inputs generated by hypothesis (in addition to the reference round-trip "
        "properties of `tests/registry/test_reference.py`)."
    ),
    cases=(
        Case(
            "reference-edits",
            "A valid image reference with one character inserted, deleted or replaced.",
            "Either `ImageReferenceError` carrying the text, or a reference that is a fixed "
            "point of `parse(str(ref))`.",
            ImageReferenceError,
        ),
        Case(
            "yaml-any-text",
            "Any text of characters YAML allows, in a file given to `System.from_yaml` (the "
            "others are the `control-character` row).",
            "A `System`, or a `ConfigError`; never another exception.",
            ConfigError,
        ),
        Case(
            "yaml-any-structure",
            "Any nesting of maps, lists and scalars under the LinuxKit section names, "
            "dumped as YAML.",
            "A `ConfigError` naming a path, or a `System` that survives a YAML round trip "
            "unchanged.",
            ConfigError,
        ),
        Case(
            "tar-any-bytes",
            "Any bytes given to `read_tar`.",
            "Entries, or a `LayerError`; never another exception.",
            LayerError,
        ),
        Case(
            "tar-mutated",
            "A valid layer tar with random bytes overwritten.",
            "A `LayerError`, or entries whose names are all relative, normalised and free of `..`.",
            LayerError,
        ),
        Case(
            "layer-any-compressed",
            "Any bytes given to `open_layer` as gzip, zstd or plain tar.",
            "A stream, a `LayerError` or an `IntegrityError` (diff_id); never another exception.",
            LayerError,
        ),
    ),
)

TABLES = (LAYERS, DOCUMENTS, NESTING, YAML, CREDENTIALS, PROPERTIES)
