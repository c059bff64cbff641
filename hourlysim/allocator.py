"""Process allocator setting: keep freed memory in the process for reuse.

A scenario-year allocates and frees many large arrays (8,760 hours x provinces, cities or
sources). With glibc's defaults, memory freed at the top of the heap beyond the trim
threshold, and blocks above its (dynamic) mmap threshold, go back to the kernel, so the
next call's arrays are faulted in again, page by page (or 2 MiB huge page by huge page:
numpy asks for those on large arrays, and where the kernel compacts memory to find one, a
first touch of 100 MB has been seen to stall 0.1-0.2 s). On the machines measured here a
first touch costs about as much as computing a dispatch hour: one grid year spent ~25 ms
of its ~100 ms dispatch kernel in page faults, and the grid stage with and without EVs took
0.37-0.40 s against 0.25-0.27 s with the memory kept (``benchmarks/bench_grid.py``).

:func:`keep_freed_memory` fixes glibc's mmap threshold at its maximum (32 MiB), raises its
trim threshold to 1 GiB, and stops the main heap from serving blocks by mmap at all (a
scenario-year frees arrays of 60-300 MB, above any mmap threshold: the (method, city, time)
EV emissions of one strategy, the year's output), so freed blocks stay in the heap and are
reused: a repeated scenario-year then spends no system time in page faults (0.1-0.5 s
before). glibc still maps memory when the heap cannot grow, and for blocks larger than a
thread arena's heap (dask worker threads), so only the main thread's large arrays are kept.
Cost: the process keeps its peak heap until it exits (the peak itself did not change:
1.71 against 1.73 GB for repeated scenario-years). Every task
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
M_MMAP_MAX = -4
#: glibc's upper limit for M_MMAP_THRESHOLD on 64-bit systems: 4 MiB x sizeof(long)
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024
#: blocks the main heap may serve by mmap at once (0: none, every block comes from the heap)
MMAP_MAX_BLOCKS = 0
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
        and mallopt(M_MMAP_MAX, MMAP_MAX_BLOCKS) == 1
    )
    if not applied:
        logger.debug("mallopt refused the thresholds; the allocator is left as it is")
    return applied
