"""Numba kernels on plain arrays: no xarray, no pandas, no I/O.

Every kernel is compiled with the options in :mod:`hourlysim._kernels._jit`.
"""
