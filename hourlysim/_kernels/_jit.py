"""The one place where numba compilation options are set for every kernel.

Kernels release the GIL (dask owns parallelism, so no ``parallel=True``), cache their
machine code on disk, and do not use fastmath (not measured safe for the tracing solves).
"""

from __future__ import annotations

import numba

JIT_OPTIONS = {"nopython": True, "nogil": True, "cache": True, "fastmath": False}


def kernel(*signatures):
    """Compile a function as an hourlysim kernel.

    Parameters
    ----------
    *signatures
        Optional explicit numba signatures (float64 arrays, int64 indices). With none, the
        kernel is compiled lazily for the types it is first called with.
    """
    if len(signatures) == 1 and callable(signatures[0]):
        return numba.jit(**JIT_OPTIONS)(signatures[0])

    def decorate(function):
        return (
            numba.jit(list(signatures), **JIT_OPTIONS)(function)
            if signatures
            else (numba.jit(**JIT_OPTIONS)(function))
        )

    return decorate
