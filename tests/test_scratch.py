"""Scratch left by a killed process is removed by the next write to the same target;
a live process's scratch is left alone."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

from core.formats import export_file
from core.scratch import remove_stale, scratch_path
from core.store import Project

from process_support import child_env
from store_support import filled_project


def dead_pid() -> int:
    probe = subprocess.Popen([sys.executable, "-c", "pass"])
    probe.wait()
    return probe.pid


def test_an_export_killed_half_way_is_cleaned_up_by_the_next(tmp_path):
    path = tmp_path / "p.spanlab"
    filled_project(path).close()
    target = tmp_path / "out.jsonl"
    # An export that is killed (SIGKILL) while it writes its scratch file.
    code = textwrap.dedent(
        f"""
        import os, sys, time
        from core.formats import export_file
        from core.store import Project
        import core.formats.export as formats
        real = formats._replacing
        from contextlib import contextmanager
        @contextmanager
        def slow(path):
            with real(path) as out:
                out.write("partial")
                out.flush()
                print("writing", flush=True)
                time.sleep(60)
                yield out
        formats._replacing = slow
        with Project.open({str(path)!r}, readonly=True) as p:
            export_file(p, {str(target)!r}, format="jsonl")
        """
    )
    killed = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=child_env()
    )
    assert killed.stdout.readline().strip() == "writing"
    killed.send_signal(signal.SIGKILL)
    killed.wait(30)
    left = [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]
    assert len(left) == 1 and left[0].startswith(f".out.jsonl.{killed.pid}-")
    with Project.open(path, readonly=True) as project:
        assert export_file(project, target, format="jsonl") == 4
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    assert len(target.read_text(encoding="utf-8").splitlines()) == 4


def test_a_live_process_scratch_is_kept_and_a_dead_ones_folder_goes(tmp_path):
    target = tmp_path / "model"
    mine = scratch_path(target, ".partial")
    mine.mkdir()
    theirs = tmp_path / f".model.{dead_pid()}-0123abcd.partial"
    theirs.mkdir()
    (theirs / "weights").write_text("x")
    unrelated = tmp_path / ".model.notes.partial"
    unrelated.mkdir()
    assert remove_stale(target, ".partial") == [theirs]
    assert mine.exists() and unrelated.exists() and not theirs.exists()


def test_a_backup_killed_half_way_is_cleaned_up_by_the_next(tmp_path):
    path = tmp_path / "p.spanlab"
    with filled_project(path) as project:
        stale = tmp_path / f".p.spanlab.bak.{dead_pid()}-00ff00ff.part"
        stale.write_text("half a backup")
        backup = project.backup()
    assert not stale.exists()
    with Project.open(backup, readonly=True) as copy:
        assert copy.count_documents() == 4
