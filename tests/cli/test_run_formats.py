"""Accelerator choice for ``run qemu``: KVM only with vmx/svm flags and a usable /dev/kvm."""

from moby_assemble._cli._run import choose_accel, cpu_has_virtualization


def test_x86_cpu_with_vmx_flag_is_capable() -> None:
    assert cpu_has_virtualization("processor\t: 0\nflags\t\t: fpu vmx sse2\n", "x86_64")


def test_x86_cpu_with_svm_flag_is_capable() -> None:
    assert cpu_has_virtualization("flags\t\t: fpu svm\n", "x86_64")


def test_x86_cpu_without_vmx_or_svm_is_not_capable() -> None:
    assert not cpu_has_virtualization("flags\t\t: fpu sse2 hypervisor\n", "x86_64")


def test_auto_picks_tcg_when_kvm_is_unusable() -> None:
    assert choose_accel("auto", False) == "tcg"
    assert choose_accel("auto", True) == "kvm"
    assert choose_accel("tcg", True) == "tcg"
