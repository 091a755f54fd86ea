"""How a process that runs batches keeps the memory it frees.

A chunk's arrays are a few MiB each, and glibc's allocator maps fresh pages for each one
of that size and returns them to the system when it is freed: every chunk then touches
its memory for the first time again, and the kernel clears each page it hands back (a
sixth of a run of 10^6 rows went to that). Told to serve blocks of up to 32 MiB from its
heap and to keep what is freed, it reuses the pages of the chunk before. The peak is the
same (the memory kept is what the largest chunk used); only processes that tuneprint
owns are told (the command line, its workers), not a program that imports it."""

from __future__ import annotations

import ctypes
import sys

# mallopt's parameters (glibc's malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MAPPED_FROM = 32 << 20  # blocks served by mapping fresh pages: larger than this (glibc's most)
KEPT_FREE = 1 << 30  # free memory at the heap's top kept, up to this
GROWN_BY = 64 << 20  # the heap grows by this much more than it is asked for


def keep_freed_memory() -> bool:
    """Tell glibc's allocator to keep freed memory for reuse; False where the C library is
    not glibc (nothing is changed)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # (musl, or no C library to load)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(
        mallopt(parameter, value) == 1
        for parameter, value in (
            (M_MMAP_THRESHOLD, MAPPED_FROM),
            (M_TRIM_THRESHOLD, KEPT_FREE),
            (M_TOP_PAD, GROWN_BY),
        )
    )


__all__ = ["keep_freed_memory"]
