"""The allocator setting that keeps freed memory for reuse (hourlysim.allocator)."""

from __future__ import annotations

import os
import platform

import numpy as np
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


def _heap_ranges() -> list[tuple[int, int]]:
    """Address ranges of this process's main heap (``[heap]`` in /proc/self/maps)."""
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            if line.rstrip().endswith("[heap]"):
                start, stop = line.split()[0].split("-")
                ranges.append((int(start, 16), int(stop, 16)))
    return ranges


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or not os.path.exists("/proc/self/maps"),
    reason="mallopt and /proc/self/maps are glibc's and Linux's",
)
def test_large_arrays_come_from_the_heap(fresh_state, monkeypatch):
    """A block far above the mmap threshold (64 MiB) is served from the main heap, where
    it stays for reuse once freed, instead of by a mapping returned on free."""
    monkeypatch.delenv(allocator.OPT_OUT_VARIABLE, raising=False)
    assert allocator.keep_freed_memory() is True
    block = np.empty(2 * allocator.MMAP_THRESHOLD_BYTES, np.uint8)
    address = block.__array_interface__["data"][0]
    assert any(start <= address < stop for start, stop in _heap_ranges())
