"""core.deploy.memory: the bounds that keep a long-running server's memory flat."""

from __future__ import annotations

import sys

import pytest

from core.deploy import memory


def test_kernel_caches_are_capped_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    monkeypatch.setenv("LRU_CACHE_CAPACITY", "500")
    memory.bound_kernel_caches(32)
    assert memory.os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "32"
    assert memory.os.environ["LRU_CACHE_CAPACITY"] == "500"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_free_memory_is_released_on_glibc():
    import platform

    assert memory.release_free_memory() is (platform.libc_ver()[0] == "glibc")
