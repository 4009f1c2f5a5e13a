"""Debian packages from the packager's label: parsing, purls, SPDX packages."""

from __future__ import annotations

import json

import pytest

from moby_assemble import ConfigError
from moby_assemble.pkg import PackageRecord
from moby_assemble.pkg._build import LABEL_PACKAGES
from moby_assemble.sbom import (
    PACKAGES_LABEL,
    DebianPackage,
    debian_package,
    debian_purl,
    packages_from_config,
    parse_packages_label,
)

SHA = "0123456789abcdef" * 4


def test_the_label_is_the_one_the_packager_writes():
    assert PACKAGES_LABEL == LABEL_PACKAGES
    records = [
        PackageRecord("runc", "1.1.5+ds1-1", "amd64", SHA),
        PackageRecord("linux-image-6.1.0-1-cloud-amd64", "6.1.1-1", "amd64", SHA,
                      via="linux-image-cloud-amd64=6.1.1-1"),
    ]  # fmt: skip
    text = json.dumps([r.to_json() for r in records], separators=(",", ":"), sort_keys=True)
    assert parse_packages_label(text) == (
        DebianPackage("runc", "1.1.5+ds1-1", "amd64", SHA),
        DebianPackage("linux-image-6.1.0-1-cloud-amd64", "6.1.1-1", "amd64", SHA,
                      "linux-image-cloud-amd64=6.1.1-1"),
    )  # fmt: skip


def test_the_config_label_wins_over_the_manifest_annotation_and_either_is_enough():
    label = json.dumps([{"name": "a", "version": "1", "architecture": "all"}])
    other = json.dumps([{"name": "b", "version": "2", "architecture": "all"}])
    config = {"config": {"Labels": {PACKAGES_LABEL: label}}}
    assert [p.name for p in packages_from_config(config, {PACKAGES_LABEL: other})] == ["a"]
    assert [p.name for p in packages_from_config({}, {PACKAGES_LABEL: other})] == ["b"]
    assert packages_from_config({"config": {"Labels": None}}) == ()


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("{", "org.mobyproject.moby-assemble.packages"),
        ('{"name": "x"}', "org.mobyproject.moby-assemble.packages"),
        ('["x"]', "org.mobyproject.moby-assemble.packages[0]"),
        ('[{"name": "x", "version": "1"}]',
         "org.mobyproject.moby-assemble.packages[0].architecture"),
        ('[{"name": "x", "version": 1, "architecture": "all"}]',
         "org.mobyproject.moby-assemble.packages[0].version"),
        ('[{"name": "x", "version": "1", "architecture": "all", "sha256": "XYZ"}]',
         "org.mobyproject.moby-assemble.packages[0].sha256"),
    ],
)  # fmt: skip
def test_a_malformed_label_names_the_image_and_the_entry(text: str, path: str):
    with pytest.raises(ConfigError) as info:
        parse_packages_label(text, image="127.0.0.1:5000/hello:1")
    assert info.value.path == path
    assert "127.0.0.1:5000/hello:1" in str(info.value)


def test_unknown_keys_in_an_entry_are_ignored_for_newer_packagers():
    text = '[{"name": "x", "version": "1", "architecture": "all", "source": "x-src"}]'
    assert parse_packages_label(text) == (DebianPackage("x", "1", "all"),)


def test_the_purl_percent_encodes_epochs_and_plus_signs():
    pkg = DebianPackage("hello-tool", "1:2.3+ds-1", "amd64")
    assert debian_purl(pkg) == "pkg:deb/debian/hello-tool@1%3A2.3%2Bds-1?arch=amd64"


def test_the_same_deb_is_one_package_and_a_rebuilt_deb_is_another():
    a = debian_package(DebianPackage("zlib1g", "1.3", "amd64", SHA))
    again = debian_package(DebianPackage("zlib1g", "1.3", "amd64", SHA))
    other_arch = debian_package(DebianPackage("zlib1g", "1.3", "arm64", SHA))
    rebuilt = debian_package(DebianPackage("zlib1g", "1.3", "amd64", "f" * 64))
    assert a == again
    assert len({a.spdx_id, other_arch.spdx_id, rebuilt.spdx_id}) == 3
    out = a.to_json()
    assert out["versionInfo"] == "1.3"
    assert out["checksums"] == [{"algorithm": "SHA256", "checksumValue": SHA}]
    assert out["externalRefs"][0]["referenceLocator"] == "pkg:deb/debian/zlib1g@1.3?arch=amd64"
    via = debian_package(DebianPackage("k", "1", "amd64", via="meta=2")).to_json()
    assert via["comment"] == "pulled in by the metapackage meta=2"
