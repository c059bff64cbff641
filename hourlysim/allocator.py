"""Process allocator setting: keep freed memory in the process for reuse.

A scenario-year allocates and frees many large arrays (8,760 hours x provinces, cities or
sources). With glibc's defaults, memory freed at the top of the heap beyond the trim
threshold, and blocks above its (dynamic) mmap threshold, go back to the kernel, so the
next call's arrays are faulted in again, page by page. On the machines measured here a
first touch costs about as much as computing a dispatch hour: one grid year spent ~25 ms
of its ~100 ms dispatch kernel in page faults, and the grid stage with and without EVs took
0.37-0.40 s against 0.25-0.27 s with the memory kept (``benchmarks/bench_grid.py``).

:func:`keep_freed_memory` fixes glibc's mmap threshold at its maximum (32 MiB) and raises
its trim threshold to 1 GiB, so freed blocks stay in the heap and are reused. Cost: the
process keeps its peak heap until it exits (the peak itself does not change). Every task
of :func:`hourlysim.runner.run` calls it in the process that runs the task (serial, local
or remote dask workers), and so do the benchmarks. Set ``HOURLYSIM_KEEP_FREED_MEMORY=0`` to
leave the allocator as it is; on a C library without ``mallopt`` (not glibc) it does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os

logger = logging.getLogger(__name__)

#: glibc mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: glibc's upper limit for M_MMAP_THRESHOLD on 64-bit systems: 4 MiB x sizeof(long)
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024
OPT_OUT_VARIABLE = "HOURLYSIM_KEEP_FREED_MEMORY"


@functools.cache
def keep_freed_memory() -> bool:
    """Keep freed memory in this process for reuse (glibc); once per process.

    Returns
    -------
    bool
        True where the setting is in force (set now or by an earlier call); False where
        the environment opts out (``HOURLYSIM_KEEP_FREED_MEMORY=0``) or the C library has
        no ``mallopt`` or refuses the values.
    """
    if os.environ.get(OPT_OUT_VARIABLE, "1").strip() == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = (
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
        and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    )
    if not applied:
        logger.debug("mallopt refused the thresholds; the allocator is left as it is")
    return applied
