"""How a long-running bot gives memory back: glibc malloc settings, through ctypes (glibc only).

A build's large buffers (onnxruntime's hidden states for a batch are 24 MiB) are each mapped on
their own and unmapped when freed. But glibc then raises its mmap threshold to the size of the
largest freed block, so later blocks of up to that size come from the heap instead, where they
fragment it and stay: a `/reindex` left `citebot serve` about 40 MB larger each time, which
malloc_trim did not give back (bench/RESULTS.md, Soak). Fixing the threshold keeps large blocks
in mappings of their own for good. The price, measured: a full build of the test corpus takes
about 8 s instead of 7 (its big buffers are mapped afresh for each batch); answers, within noise.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging

logger = logging.getLogger(__name__)

# glibc's own starting value; setting it explicitly turns its dynamic raising off.
MMAP_THRESHOLD_BYTES = 128 * 1024
_M_MMAP_THRESHOLD = -3  # from glibc's <malloc.h>


def _glibc() -> ctypes.CDLL | None:
    with contextlib.suppress(OSError):
        libc = ctypes.CDLL("libc.so.6")
        if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt"):
            return libc
    return None  # not glibc: its allocator has other habits, and nothing here applies


def map_large_blocks_separately() -> None:
    """Allocate blocks above MMAP_THRESHOLD_BYTES as mappings of their own from now on, so
    freeing one returns it to the system. Call once, early, in a process that lives long."""
    libc = _glibc()
    if libc is not None and not libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES):
        logger.warning("could not fix malloc's mmap threshold; reindexing may grow memory")


def return_freed_memory() -> None:
    """Hand the heap a build freed back to the system: glibc keeps freed heap for reuse, and
    a bot that reindexes now and then would otherwise stay at its largest build's size."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
