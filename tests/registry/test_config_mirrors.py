from moby_assemble.registry import RegistryConfig


def test_mirrors_accept_any_iterable_and_a_single_string_is_one_mirror() -> None:
    assert RegistryConfig(mirrors=["a:5000", "b"]).mirrors == ("a:5000", "b")
    assert RegistryConfig(mirrors="mirror.local:5000").mirrors == ("mirror.local:5000",)
