"""The output policy of every writer and command: atomic, checked up front, never replacing what the SDK
did not write, clean after SIGINT/SIGTERM, safe with concurrent writers, umask-respecting.

* :func:`atomic_path` writes a file through a temporary file beside it (renamed into place when the
  write succeeds). :func:`atomic_dir` does the same for a whole folder.
* Every folder :func:`atomic_dir` publishes carries a marker file (:data:`MARKER`). An existing folder
  is replaced only when it carries that marker (or the synthetic-asset writer's ``SYNTHETIC``), when it
  is empty, or when the caller forces it (``force=True``, :func:`allow_replace`, ``--force``).
  Anything else is an :class:`~rome_smplx.errors.InputError` before any work is done.
* :func:`check_output_file` / :func:`check_output_dir` check an output path up front: a usable name
  (not ``.``, ``..`` or empty), a target of the right kind (no file where a folder goes or the
  reverse), a parent that is a folder (or can be created under one) and is writable. Commands call
  them before any compute; the writers call them again.
* Concurrent writers to one path end with one complete result and no leftovers: every temporary and
  set-aside name is unique (``mkstemp``/``mkdtemp``), a folder is published by ``rename`` (which fails
  on a non-empty target), and a writer that finds a complete result in place moves it aside under a
  unique name and tries again; a writer that loses a race never fails because of it.
* While a write is in progress SIGTERM raises :class:`Terminated` (a :class:`KeyboardInterrupt`), so
  temporary files are removed the same way as after Ctrl-C. The handler is installed only in the main
  thread and only over the default action (a handler the application set is kept).
* Published files get ``0666 & ~umask`` and folders ``0777 & ~umask``: what ``open``/``mkdir`` give.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import json
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from rome_smplx.errors import InputError

#: The marker file inside every folder :func:`atomic_dir` writes.
MARKER = ".rome-smplx"
#: Marker files that also mean "written by rome-smplx" (the synthetic-asset writer's).
KNOWN_MARKERS = (MARKER, "SYNTHETIC")

_FOREIGN = ("{p}: the folder exists and was not written by rome-smplx (no " + MARKER + " marker); remove it, "
            "choose another folder, or pass --force to replace it")

_forced: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("rome_smplx_forced", default=frozenset())


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM while an atomic write is in progress."""


# ------------------------------------------------------------------------------------------ modes
def _umask() -> int:
    """The process umask, read without changing it where the system allows (``/proc``)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _publish_mode(path: Path, directory: bool = False) -> None:
    """Give a temporary file (0600) or folder (0700) the mode a plain ``open``/``mkdir`` would."""
    with contextlib.suppress(OSError):
        os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


# ---------------------------------------------------------------------------------------- signals
_sig_lock = threading.Lock()
_sig_depth = 0
_sig_previous = None


def _on_sigterm(signum, frame):  # pragma: no cover - exercised in a subprocess
    raise Terminated(f"terminated by signal {signum}")


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While active, SIGTERM raises :class:`Terminated` in the main thread (cleanup runs as after
    Ctrl-C). Re-entrant; a no-op outside the main thread or when a non-default handler is set."""
    global _sig_depth, _sig_previous
    installed = False
    if threading.current_thread() is threading.main_thread():
        with _sig_lock:
            if _sig_depth == 0:
                current = signal.getsignal(signal.SIGTERM)
                if current in (signal.SIG_DFL, None):
                    _sig_previous = current
                    signal.signal(signal.SIGTERM, _on_sigterm)
                    _sig_depth = 1
                    installed = True
            elif signal.getsignal(signal.SIGTERM) is _on_sigterm:
                _sig_depth += 1
                installed = True
    try:
        yield
    finally:
        if installed:
            with _sig_lock:
                _sig_depth -= 1
                if _sig_depth == 0:
                    signal.signal(signal.SIGTERM, _sig_previous if _sig_previous is not None else signal.SIG_DFL)


# ------------------------------------------------------------------------------------------ checks
def _key(path: Path) -> str:
    return os.path.abspath(os.path.expanduser(path))


@contextlib.contextmanager
def allow_replace(*paths: str | os.PathLike) -> Iterator[None]:
    """Within this context, :func:`atomic_dir` may replace the folders ``paths`` whatever they hold
    (what ``--force`` means on the command line)."""
    token = _forced.set(_forced.get() | {_key(Path(p)) for p in paths})
    try:
        yield
    finally:
        _forced.reset(token)


def _is_forced(path: Path, force: bool) -> bool:
    return force or _key(path) in _forced.get()


def is_marked(path: str | os.PathLike) -> bool:
    """Whether the folder ``path`` was written by rome-smplx (carries one of :data:`KNOWN_MARKERS`)."""
    p = Path(path)
    return any((p / m).is_file() for m in KNOWN_MARKERS)


def _folder_state(path: Path) -> str:
    """``"absent"``, ``"file"``, ``"link"``, ``"empty"``, ``"marked"`` or ``"foreign"``, read through one
    handle of the folder (a concurrent writer may swap the path between two look-ups)."""
    if path.is_symlink():
        return "link"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except FileNotFoundError:
        return "absent"
    except NotADirectoryError:  # the path is a file, or a file stands where a folder of it goes
        return "file" if os.path.lexists(path) else "absent"
    except OSError:
        return "file" if os.path.lexists(path) and not path.is_dir() else "foreign"
    try:
        names = set(os.listdir(fd)) if os.listdir in os.supports_fd else set(os.listdir(path))
    finally:
        os.close(fd)
    if not names:
        return "empty"
    return "marked" if any(m in names for m in KNOWN_MARKERS) else "foreign"


def _check_name(path: str | os.PathLike, what: str) -> None:
    raw = os.fspath(path)
    if "\x00" in raw:
        raise InputError(f"{raw!r}: the path contains a NUL character")
    last = os.path.basename(raw.rstrip("/" + os.sep)) if raw.rstrip("/" + os.sep) else ""
    if raw.strip() == "" or last in ("", ".", ".."):
        found = "an empty path" if raw.strip() == "" else ("the current folder" if last in ("", ".") else repr(raw))
        raise InputError(f"{raw or repr(raw)}: expected the name of a {what} to write, found {found}")
    if what == "file" and raw.endswith(("/", os.sep)):
        raise InputError(f"{raw}: expected a file name, found a folder path (it ends with a separator)")


def _check_parent(path: Path) -> None:
    """The nearest existing ancestor of ``path`` must be a writable folder."""
    parent = Path(os.path.abspath(os.path.expanduser(path))).parent
    probe = parent
    while not os.path.lexists(probe):
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"{path}: cannot write here: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"{path}: cannot write here: the folder {probe} is not writable")


def check_output_file(path: str | os.PathLike) -> Path:
    """Check a file output path before any work (see the module docstring).

    An existing file at ``path`` is replaced (atomically) when the write succeeds.

    Raises:
        InputError: no usable name, a folder at ``path``, a parent that is a file or not writable.
    """
    _check_name(path, "file")
    p = Path(os.path.expanduser(os.fspath(path)))
    if p.is_symlink() and p.is_dir() or (p.exists() and p.is_dir()):
        raise InputError(f"{p}: expected a file path, found a folder")
    _check_parent(p)
    return p


def check_output_dir(path: str | os.PathLike, *, force: bool = False) -> Path:
    """Check a folder output path before any work (see the module docstring).

    Raises:
        InputError: no usable name (e.g. ``.``), a file at ``path``, an existing folder that rome-smplx
            did not write (unless forced), a parent that is a file or not writable.
    """
    _check_name(path, "folder")
    p = Path(os.path.expanduser(os.fspath(path)))
    state = _folder_state(p)
    if state == "link":
        raise InputError(f"{p}: expected a folder to write, found a symbolic link (remove it or name the real folder)")
    if state == "file":
        raise InputError(f"{p}: expected a folder path, found a file")
    if state != "absent" and Path(os.path.abspath(p)) in (Path.cwd(), *Path.cwd().parents):
        raise InputError(f"{p}: refusing to replace the current folder or one that contains it")
    if state == "foreign" and not _is_forced(p, force):
        raise InputError(_FOREIGN.format(p=p))
    _check_parent(p)
    return p


def check_work_dir(path: str | os.PathLike) -> Path:
    """Check a folder that a run adds to (training checkpoints) rather than replaces: a usable name,
    not a file, writable if it exists, else creatable under a writable folder.

    Raises:
        InputError: as for :func:`check_output_dir`, except that an existing folder is fine.
    """
    _check_name(path, "folder")
    p = Path(os.path.expanduser(os.fspath(path)))
    if p.exists():
        if not p.is_dir():
            raise InputError(f"{p}: expected a folder path, found a file")
        if not os.access(p, os.W_OK | os.X_OK):
            raise InputError(f"{p}: cannot write here: the folder is not writable")
        return p
    _check_parent(p)
    return p


# ------------------------------------------------------------------------------------------ writers
def _mkdir_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"{path}: cannot write here: a file stands where a folder of the path goes") from None
    except PermissionError:
        raise InputError(f"{path}: cannot write here: permission denied creating {path.parent}") from None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name keeps the extension (``suffix`` defaults to ``path``'s) so writers that
    pick a format from the extension (numpy, PIL, trimesh) still work. The file is published with the
    umask's mode; after an error, Ctrl-C or SIGTERM nothing is left behind.

    Example:
        >>> with atomic_path(out / "mesh.ply") as tmp:  # doctest: +SKIP
        ...     mesh.export(tmp)
    """
    path = check_output_file(path)
    _mkdir_parent(path)
    suffix = path.suffix if suffix is None else suffix
    with terminate_as_interrupt():
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
        except PermissionError:
            raise InputError(f"{path}: cannot write here: permission denied in {path.parent}") from None
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            _publish_mode(tmp_path)
            try:
                os.replace(tmp_path, path)
            except IsADirectoryError:
                raise InputError(f"{path}: expected a file path, found a folder") from None
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp_path.unlink()
            raise


def _publish_dir(tmp: Path, path: Path, force: bool) -> None:
    """Rename the complete folder ``tmp`` onto ``path``, moving a replaceable folder there aside."""
    aside: list[Path] = []
    try:
        for _ in range(10_000):
            try:
                os.rename(tmp, path)  # works when path is absent or an empty folder
                return
            except OSError as e:
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                    raise
            state = _folder_state(path)
            if state in ("absent", "empty"):
                continue  # it vanished (or emptied) between the two calls: try again
            if state in ("link", "file"):
                raise InputError(f"{path}: expected a folder path, found a file")
            if state == "foreign" and not _is_forced(path, force):
                raise InputError(_FOREIGN.format(p=path))
            hole = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            try:
                os.rename(path, hole)  # onto an empty folder: allowed
            except OSError as e:
                hole.rmdir()
                if e.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
                    raise
                continue  # another writer moved it first
            aside.append(hole)
        raise InputError(f"{path}: could not publish the folder (too many concurrent writers)")
    finally:
        for old in aside:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` as a whole.

    The policy of the module docstring applies: the target is checked first (an existing folder is
    replaced only when rome-smplx wrote it, it is empty, or ``force``), the new folder gets the
    :data:`MARKER` file, and it replaces the old one only when complete.

    Raises:
        InputError: the target is not replaceable (see :func:`check_output_dir`).
    """
    path = check_output_dir(path, force=force)
    _mkdir_parent(path)
    with terminate_as_interrupt():
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        except PermissionError:
            raise InputError(f"{path}: cannot write here: permission denied in {path.parent}") from None
        try:
            yield tmp
            marker = tmp / MARKER
            marker.write_text(json.dumps({"written_by": "rome-smplx"}) + "\n")
            _publish_mode(marker)
            _publish_mode(tmp, directory=True)
            _publish_dir(tmp, path, force)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


__all__ = [
    "KNOWN_MARKERS",
    "MARKER",
    "Terminated",
    "allow_replace",
    "atomic_dir",
    "atomic_path",
    "check_output_dir",
    "check_output_file",
    "check_work_dir",
    "is_marked",
    "terminate_as_interrupt",
    "write_bytes_atomic",
]
