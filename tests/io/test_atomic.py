"""The output policy (io/atomic): wrong kinds refused, foreign folders kept, up-front path checks,
umask modes, concurrent writers (2 processes x 100 rounds) and SIGTERM cleanup."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rome_smplx.errors import InputError
from rome_smplx.io import atomic
from rome_smplx.io.atomic import (
    MARKER,
    allow_replace,
    atomic_dir,
    atomic_path,
    check_output_dir,
    check_output_file,
    check_work_dir,
    write_bytes_atomic,
)


def _listing(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


# ------------------------------------------------------------------------------------ wrong kinds
def test_folder_onto_a_file_is_refused_before_the_block_runs(tmp_path):
    target = tmp_path / "out"
    target.write_text("user file")
    ran = []
    with pytest.raises(InputError, match=r"out: expected a folder path, found a file"):
        with atomic_dir(target):
            ran.append(1)
    assert ran == [] and target.read_text() == "user file" and _listing(tmp_path) == ["out"]


def test_file_onto_a_folder_is_refused(tmp_path):
    (tmp_path / "x.glb").mkdir()
    with pytest.raises(InputError, match=r"x\.glb: expected a file path, found a folder"):
        write_bytes_atomic(tmp_path / "x.glb", b"data")
    assert (tmp_path / "x.glb").is_dir() and _listing(tmp_path) == ["x.glb"]


def test_file_under_a_file_is_refused(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(InputError, match=r"a_file is a file, not a folder"):
        check_output_file(tmp_path / "a_file" / "x.glb")
    with pytest.raises(InputError, match=r"a_file is a file, not a folder"):
        check_output_dir(tmp_path / "a_file" / "deeper" / "out")


@pytest.mark.parametrize("name", [".", "..", "", "sub/.", "sub/.."])
def test_no_usable_name_is_refused(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with pytest.raises(InputError, match="expected the name of a folder"):
        check_output_dir(name)
    with pytest.raises(InputError, match="expected the name of a file"):
        check_output_file(name)


def test_a_file_path_ending_in_a_separator_is_refused(tmp_path):
    with pytest.raises(InputError, match="ends with a separator"):
        check_output_file(f"{tmp_path}/x.glb/")


def test_the_current_folder_is_never_replaced_even_forced(tmp_path, monkeypatch):
    d = tmp_path / "cwd"
    d.mkdir()
    (d / MARKER).write_text("{}")
    monkeypatch.chdir(d)
    with pytest.raises(InputError, match="current folder"):
        check_output_dir(d, force=True)


# --------------------------------------------------------------------------- replacing folders
def test_a_folder_of_user_data_is_kept_unless_forced(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    with pytest.raises(InputError, match=rf"not written by rome-smplx \(no {MARKER} marker\).*--force"):
        with atomic_dir(target) as tmp:
            (tmp / "new.txt").write_text("new")
    assert _listing(target) == ["precious.txt"] and _listing(tmp_path) == ["out"]
    with atomic_dir(target, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert _listing(target) == [MARKER, "new.txt"] and _listing(tmp_path) == ["out"]


def test_allow_replace_is_force_for_the_paths_named(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / "user.txt").write_text("u")
    with allow_replace(a):
        with atomic_dir(a) as tmp:
            (tmp / "x").write_text("1")
        with pytest.raises(InputError, match="not written by rome-smplx"):
            check_output_dir(b)
    assert _listing(a) == [MARKER, "x"] and _listing(b) == ["user.txt"]
    with pytest.raises(InputError):  # the context is over
        check_output_dir(b)


def test_marked_and_empty_folders_are_replaced(tmp_path):
    target = tmp_path / "out"
    target.mkdir()  # empty: nothing to lose
    with atomic_dir(target) as tmp:
        (tmp / "one.txt").write_text("1")
    assert _listing(target) == [MARKER, "one.txt"]
    with atomic_dir(target) as tmp:  # ours (marker): replaced as a whole
        (tmp / "two.txt").write_text("2")
    assert _listing(target) == [MARKER, "two.txt"] and _listing(tmp_path) == ["out"]
    legacy = tmp_path / "assets"
    legacy.mkdir()
    (legacy / "SYNTHETIC").write_text("{}")  # the synthetic-asset writer's marker
    with atomic_dir(legacy) as tmp:
        (tmp / "SYNTHETIC").write_text("{}")
    assert _listing(legacy) == [MARKER, "SYNTHETIC"]


def test_failure_inside_the_block_leaves_the_old_folder_and_no_temporaries(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "v1").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "v2").write_text("2")
            raise RuntimeError("boom")
    assert _listing(target) == [MARKER, "v1"] and _listing(tmp_path) == ["out"]


def test_work_dir_accepts_an_existing_folder_but_not_a_file(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "step_0000001").mkdir()
    assert check_work_dir(tmp_path / "runs") == tmp_path / "runs"
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="found a file"):
        check_work_dir(tmp_path / "f")


# --------------------------------------------------------------------------------- writability
def test_an_unwritable_parent_is_found_up_front(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(atomic.os, "access", lambda p, mode: False if Path(p) == ro else real(p, mode))
    for check in (check_output_file, check_output_dir):
        with pytest.raises(InputError, match=r"the folder .*ro is not writable"):
            check(ro / "sub" / "out.glb")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_parent_real_permissions(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(InputError, match="not writable"):
            check_output_dir(ro / "out")
    finally:
        ro.chmod(0o700)


# -------------------------------------------------------------------------------------- modes
@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_published_modes_follow_the_umask(tmp_path, mask, file_mode, dir_mode):
    old = os.umask(mask)
    try:
        assert atomic._umask() == mask
        write_bytes_atomic(tmp_path / "single.bin", b"x")
        with atomic_dir(tmp_path / "out") as tmp:
            with atomic_path(tmp / "mesh.ply") as t:
                t.write_bytes(b"ply")
            (tmp / "summary.json").write_text("{}")  # a plain open inside the folder
            (tmp / "sub").mkdir()
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)
    out = tmp_path / "out"
    assert mode(tmp_path / "single.bin") == file_mode
    assert mode(out) == dir_mode and mode(out / "sub") == dir_mode
    assert {mode(out / n) for n in ("mesh.ply", "summary.json", MARKER)} == {file_mode}


# -------------------------------------------------------------------------------- concurrency
_RACE = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from rome_smplx.io.atomic import atomic_dir
    target, start, rounds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    while not start.exists():
        time.sleep(0.001)
    for r in range(rounds):
        tag = f"{os.getpid()} {r}"
        with atomic_dir(target) as tmp:
            for name in ("a.txt", "b.txt", "c.txt"):
                (tmp / name).write_text(tag)
        # whatever folder is there now is one complete result of some round of some writer (read
        # through one handle of the folder: the path itself may be swapped between two reads)
        try:
            fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            continue  # the other writer is between its two renames
        try:
            got = set()
            for n in ("a.txt", "b.txt", "c.txt"):
                f = os.open(n, os.O_RDONLY, dir_fd=fd)
                got.add(os.read(f, 100).decode())
                os.close(f)
        except FileNotFoundError:
            continue  # that folder was set aside and removed while we read it
        finally:
            os.close(fd)
        assert len(got) == 1, got
    print("ok")
""")


def test_two_processes_100_rounds_one_complete_result_no_leftovers(tmp_path):
    target, start = tmp_path / "race", tmp_path / "go"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", _RACE, str(target), str(start), "100"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    time.sleep(0.3)
    start.write_text("")
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and out.strip() == "ok", err
    assert _listing(tmp_path) == ["go", "race"]  # no .race.*.tmp / .old left
    assert _listing(target) == [MARKER, "a.txt", "b.txt", "c.txt"]
    assert len({(target / n).read_text() for n in ("a.txt", "b.txt", "c.txt")}) == 1


# ------------------------------------------------------------------------------------ signals
_SLOW_WRITER = textwrap.dedent("""
    import signal, sys, time
    from pathlib import Path
    # a shell that starts jobs in the background ignores SIGINT for them, and Python then installs no
    # KeyboardInterrupt handler; give this child the terminal's behaviour whatever launched the tests
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from rome_smplx.io.atomic import atomic_dir, atomic_path
    target = Path(sys.argv[1])
    with atomic_dir(target) as tmp:
        with atomic_path(tmp / "frame_0000.ply") as f:
            f.write_bytes(b"x" * 1000)
            print("ready", flush=True)
            time.sleep(60)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_cleans_up_like_sigint(tmp_path, sig):
    target = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(target)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    assert any(n.startswith(".out.") for n in _listing(tmp_path))  # the temporary folder is there
    p.send_signal(sig)
    _, err = p.communicate(timeout=30)
    assert p.returncode != 0 and ("KeyboardInterrupt" in err or "Terminated" in err), err
    assert _listing(tmp_path) == []  # neither the target nor any temporary


def test_sigterm_handler_only_while_writing_and_an_application_handler_is_kept(tmp_path):
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)
    with atomic_dir(tmp_path / "a"):
        assert signal.getsignal(signal.SIGTERM) is atomic._on_sigterm
        with atomic_path(tmp_path / "b.txt") as t:  # nested: still ours
            t.write_text("b")
        assert signal.getsignal(signal.SIGTERM) is atomic._on_sigterm
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)

    def mine(signum, frame):
        pass

    old = signal.signal(signal.SIGTERM, mine)
    try:
        with atomic_dir(tmp_path / "c"):
            assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, old)
