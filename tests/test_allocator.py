"""The allocator setting that keeps freed memory for reuse (hourlysim.allocator)."""

from __future__ import annotations

import platform

import pytest

from hourlysim import allocator


@pytest.fixture
def fresh_state():
    """Forget whether this process applied the setting (and forget the test's answer)."""
    allocator.keep_freed_memory.cache_clear()
    yield
    allocator.keep_freed_memory.cache_clear()


def test_opt_out_leaves_the_allocator_alone(fresh_state, monkeypatch):
    monkeypatch.setenv(allocator.OPT_OUT_VARIABLE, "0")
    calls = []
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda *a: calls.append(a))
    assert allocator.keep_freed_memory() is False
    assert calls == []  # not even the C library was opened


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt thresholds are glibc's")
def test_applied_once_per_process_on_glibc(fresh_state, monkeypatch):
    monkeypatch.delenv(allocator.OPT_OUT_VARIABLE, raising=False)
    assert allocator.keep_freed_memory() is True

    def fail(*args):
        raise AssertionError("applied twice")

    monkeypatch.setattr(allocator.ctypes, "CDLL", fail)
    assert allocator.keep_freed_memory() is True


def test_no_mallopt_means_not_applied(fresh_state, monkeypatch):
    class NoMallopt:
        def __init__(self, *args):
            pass

    monkeypatch.delenv(allocator.OPT_OUT_VARIABLE, raising=False)
    monkeypatch.setattr(allocator.ctypes, "CDLL", NoMallopt)
    assert allocator.keep_freed_memory() is False
