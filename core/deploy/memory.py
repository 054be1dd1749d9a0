"""Keeping a long-running server's memory flat while the shapes of its batches vary.

Every batch of a server has a shape of its own (texts x sub-tokens), and two things
grow a CPU process that runs ever-new shapes (measured on MiniLM, 16 clients):

- oneDNN's primitive cache and ideep's per-thread cache each keep the kernels built for
  up to 1024 shapes: in bf16 about 3 MB per (batch, length) shape between them, more
  than 500 MB once full. :func:`bound_kernel_caches` caps them; the Predictor rounds
  lengths up so that shapes repeat and the capped caches still hit.
- glibc keeps the memory of freed activations in its heap rather than returning it
  (fp32: 140 MB in use, 440 MB more held free after 90 batches), so the resident size
  climbs even when nothing is kept. :func:`release_free_memory` after a batch gives it
  back.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import sys
from collections.abc import Callable

#: Kernels each cache keeps: a few dozen batch shapes, a few MB.
CACHE_ENTRIES = 64
_CACHE_VARIABLES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")


def bound_kernel_caches(entries: int = CACHE_ENTRIES) -> None:
    """Cap oneDNN's caches of built kernels at ``entries`` each.

    The caches read their capacity once, when the process first runs a model, so this
    must come before that; a capacity already set in the environment is kept.
    """
    for name in _CACHE_VARIABLES:
        os.environ.setdefault(name, str(entries))


def release_free_memory() -> bool:
    """Give the heap memory that is free back to the system (glibc's ``malloc_trim``);
    False where the C library has no such call (macOS, Windows, musl)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
