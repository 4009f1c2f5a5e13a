"""The examples in the trust modules' docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

from moby_assemble.trust import PrivateKey, PublicKey

MODULES = ["_bundle", "_keys", "_policy", "_result", "_simplesigning"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(f"moby_assemble.trust.{name}")
    extra = {"PrivateKey": PrivateKey, "PublicKey": PublicKey}
    failures, tried = doctest.testmod(module, extraglobs=extra, optionflags=doctest.ELLIPSIS)
    assert tried > 0
    assert failures == 0
