"""Files of the trainer: the one atomic writer, the run-folder lock, path checks and the errors the CLI prints.

Every file the trainer and the evaluator write goes through :func:`atomic_write`: the bytes land in a temporary
file in the same folder (``.elbo-lab-tmp.NAME.PID.RANDOM.tmp``), are flushed to disk, and the temporary file is renamed over
``NAME`` -- a reader sees the old file or the new one, never half of one. Torch checkpoints and ``.npz`` arrays
are serialized in memory first (:func:`torch_bytes`, :func:`npz_bytes`), so a full disk is reported as
:class:`DiskFull` by the write itself instead of as a serializer's internal error.

A run folder (and the results folder while ``evaluate`` writes to it) is owned by one process at a time:
:class:`FolderLock` holds an exclusive ``fcntl.flock`` on the folder itself (its directory file descriptor, so
no lock file is left in the folder) for as long as the run lives. The
kernel drops the lock when the process dies (even by ``kill -9``), so a stale lock never blocks a later run.
Temporary files left by a killed process are removed by :func:`remove_stale_temps` once the lock is held.

Errors: every error meant for a user derives from :class:`TrainingError`; its message is one line naming the
problem and the fix, and its ``exit_code`` is 2 for a usage error (a bad value or path given on the command line)
or 1 for a failure (corrupt file, disk full, divergence). Nothing here imports torch or numpy at module level.
"""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import re
import secrets
from pathlib import Path

#: Prefix and suffix of every temporary file this package writes (``.elbo-lab-tmp.NAME.PID.RANDOM.tmp``); only
#: files of exactly that form (:data:`TMP_RE`) are ever removed as stale -- a user's ``notes.tmp`` is not ours.
TMP_PREFIX = ".elbo-lab-tmp."
TMP_SUFFIX = ".tmp"
TMP_RE = re.compile(r"\.elbo-lab-tmp\..+\.[0-9]+\.[0-9a-f]{8}\.tmp")
#: The journal of a file set being renamed into place (:func:`atomic_write_set`), and the backups of the files it
#: replaces: a set interrupted between its renames is rolled back to the old files on the next write there.
JOURNAL_RE = re.compile(r"\.elbo-lab-set\.[0-9]+\.[0-9a-f]{8}\.json")
BACKUP_PREFIX = ".elbo-lab-old."
#: A results name / file stem: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class TrainingError(Exception):
    """An error reported by the command line as one line (no traceback).

    ``exit_code``: 2 for a usage error (bad value or path; the user changes the command), 1 for a failure.
    """

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(" ".join(str(message).split()))  # one line, whatever the parts held
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(TrainingError):
    """A bad command-line value or path (exit code 2)."""

    exit_code = 2


class ConfigError(UsageError, ValueError):
    """A configuration value is invalid; the message names the field and how to fix it (exit code 2).

    Raised by :class:`training.config.TrainConfig` and :func:`training.prior_spec.parse_prior`; defined here, with
    the other errors the command line prints, so that neither module imports the other.
    """


class DiskFull(TrainingError):
    """A write failed because the disk (or quota) is full; nothing half-written was left behind."""


class FolderBusy(TrainingError):
    """Another process holds the folder's lock (another ``train`` or ``evaluate`` is writing there)."""


def _write_failure(e: OSError, path: Path) -> TrainingError:
    """The one-line error for an ``OSError`` raised while writing ``path``."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"disk full while writing {path}: nothing was half-written; free space on that disk "
                        f"(df -h {path.parent}) and run the same command again")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return UsageError(f"cannot write {path} ({e.strerror}): choose a folder you can write to")
    return TrainingError(f"cannot write {path} ({e.strerror or e}): check the folder and the disk, then run again")


def _tmp_for(path: Path) -> Path:
    return path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TMP_SUFFIX}")


def _write_tmp(tmp: Path, payload: bytes) -> None:
    with open(tmp, "xb") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)


def atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically and durably; return the path.

    Raises:
        DiskFull: no space left (the temporary file is removed, ``path`` is unchanged).
        UsageError: the folder is not writable. TrainingError: any other write failure.
    """
    path = Path(path)
    atomic_write_set(path.parent, {path.name: data})
    return path


def atomic_write_set(folder: str | os.PathLike, files: dict[str, str | bytes]) -> list[Path]:
    """Write several files into ``folder`` all-or-nothing; return their paths.

    Every file is written to a temporary file first (fsynced); only when all are on disk are they renamed into
    place, in the given order (put the file that refers to the others last), with SIGINT and SIGTERM held back
    until the last rename (so Ctrl-C or a ``kill`` never splits a set). Before the first rename a journal
    (``.elbo-lab-set.PID.RANDOM.json``) records the set and a hard link keeps each file being replaced: if a
    rename fails, the files already replaced are restored; if the process is killed between renames, the next
    write into the folder (:func:`recover_sets`, also run by :func:`remove_stale_temps`) restores them. A target
    that is a folder (or anything but a regular file) is refused before anything is written.

    Raises: as :func:`atomic_write`; :class:`UsageError` for a target that is a folder.
    """
    folder = Path(folder)
    for name in files:
        target = folder / name
        if target.exists() and not target.is_file():
            raise UsageError(f"{target} exists and is not a regular file (a folder?): move it away or choose "
                             f"another name or folder; nothing was written")
    recover_sets(folder)
    staged: list[tuple[Path, Path]] = []
    backups: dict[Path, Path] = {}
    journal: Path | None = None
    done: list[Path] = []
    committed = False
    current = folder
    try:
        for name, data in files.items():
            current = folder / name
            tmp = _tmp_for(current)
            staged.append((tmp, current))
            _write_tmp(tmp, data.encode("utf-8") if isinstance(data, str) else bytes(data))
        if len(staged) > 1:  # one file needs neither: its rename is atomic by itself
            for _, target in staged:
                if target.exists():
                    current = target
                    bak = folder / f"{BACKUP_PREFIX}{target.name}.{os.getpid()}.{secrets.token_hex(4)}"
                    try:
                        os.link(target, bak)
                    except OSError:  # a file system without hard links: a copy
                        _write_tmp(bak, target.read_bytes())
                    backups[target] = bak
            journal = folder / f".elbo-lab-set.{os.getpid()}.{secrets.token_hex(4)}.json"
            current = journal
            entries = [{"target": t.name, "tmp": tmp.name, "backup": backups[t].name if t in backups else None}
                       for tmp, t in staged]
            jtmp = _tmp_for(journal)
            _write_tmp(jtmp, json.dumps(entries).encode())
            os.replace(jtmp, journal)
            fsync_dir(folder)
        blocked = _block_signals()  # a Ctrl-C or SIGTERM now waits until the set is whole
        try:
            for tmp, target in staged:
                current = target
                os.replace(tmp, target)
                done.append(target)
            if journal is not None:
                journal.unlink(missing_ok=True)
            for bak in backups.values():
                bak.unlink(missing_ok=True)
            committed = True
        finally:
            _unblock_signals(blocked)  # a held-back Ctrl-C or SIGTERM is raised here, after the set is whole
    except BaseException as e:
        if committed:
            raise
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        for target in done:  # roll back: the old file again, or no file where there was none
            try:
                if target in backups:
                    os.replace(backups.pop(target), target)
                else:
                    target.unlink(missing_ok=True)
            except OSError:
                pass
        for bak in backups.values():
            bak.unlink(missing_ok=True)
        if journal is not None:
            journal.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _write_failure(e, current) from None
        raise
    fsync_dir(folder)
    return [target for _, target in staged]


def _writer_alive(journal: Path) -> bool:
    """Whether the process named in a journal's name (``.elbo-lab-set.PID.RANDOM.json``) still runs."""
    try:
        pid = int(journal.name.split(".")[2])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by another user
        return True
    return True


def _block_signals():
    """Hold SIGINT and SIGTERM back during the renames of a set: their handlers are replaced by one that only
    records the signal, and :func:`_unblock_signals` runs the original handler once the set is whole.  (A
    thread-level signal mask is not enough: the kernel may hand a process-directed signal to another thread,
    e.g. one of torch's, and Python then raises KeyboardInterrupt in the main thread at once.)  Returns the
    state to restore, or None off the main thread, where handlers cannot be changed."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    pending: list = []

    def hold(signum, frame):
        pending.append(signum)

    try:
        old = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    except (AttributeError, OSError, ValueError):
        return None
    return old, pending


def _unblock_signals(state) -> None:
    if state is None:
        return
    import signal

    old, pending = state
    for sig, handler in old.items():
        signal.signal(sig, handler)
    if pending:
        sig = pending[0]
        handler = old[sig]
        if callable(handler):
            handler(sig, None)  # e.g. default_int_handler: KeyboardInterrupt, now that the set is whole
        elif handler == signal.SIG_DFL:
            os.kill(os.getpid(), sig)  # the default action (termination), delivered now


def recover_sets(folder: str | os.PathLike) -> list[str]:
    """Roll back every file set of :func:`atomic_write_set` that a killed process (one no longer running) left
    half-renamed in ``folder``:
    each replaced file gets its old content back (a new one is removed), so the folder holds the old set whole.
    Returns the names restored. Call while no other writer works in ``folder`` (under its lock)."""
    folder = Path(folder)
    restored: list[str] = []
    try:
        journals = [p for p in folder.iterdir() if JOURNAL_RE.fullmatch(p.name)]
    except OSError:
        return restored
    for journal in journals:
        if _writer_alive(journal):  # a set being written right now by another process (or thread): not ours
            continue
        try:
            entries = json.loads(journal.read_text())
            for e in entries:
                target, tmp = folder / e["target"], folder / e["tmp"]
                renamed = not tmp.exists()  # its rename happened
                if e.get("backup"):
                    bak = folder / e["backup"]
                    if bak.exists():
                        if renamed:
                            os.replace(bak, target)
                            restored.append(target.name)
                        else:
                            bak.unlink()
                elif renamed and target.exists():
                    target.unlink()
                    restored.append(target.name)
                tmp.unlink(missing_ok=True)
            journal.unlink()
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not one we can read: leave it (and the files) alone
    if restored:
        fsync_dir(folder)
    return restored


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (the renames in it) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def torch_bytes(obj) -> bytes:
    """``torch.save(obj)`` into memory (a checkpoint is a few MB), for :func:`atomic_write`."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def npz_bytes(**arrays) -> bytes:
    """``numpy.savez_compressed(**arrays)`` into memory, for :func:`atomic_write`."""
    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def remove_stale_temps(folder: Path) -> list[Path]:
    """Finish what a killed writer left in ``folder`` (call only while holding its lock): roll back a half-renamed
    file set (:func:`recover_sets`), then delete this package's own temporary files (:data:`TMP_RE`) and the
    backups of finished sets. Nothing else is touched: a user's ``notes.tmp`` stays."""
    recover_sets(folder)
    removed = []
    for p in folder.iterdir() if folder.is_dir() else ():
        if not (TMP_RE.fullmatch(p.name) or p.name.startswith(BACKUP_PREFIX)):
            continue
        try:
            if p.is_file() and not p.is_symlink():
                p.unlink()
                removed.append(p)
        except OSError:
            pass
    return removed


def check_name(name: str, flag: str = "--name") -> str:
    """``name`` if it is a plain file stem (:data:`NAME_RE`), else :class:`UsageError` (no ``/``, no ``..``)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or ".." in name:
        raise UsageError(f"{flag} {name!r} is not a plain name: use 1-64 letters, digits, '.', '_' or '-' "
                         f"(e.g. vae_d2); the files always go into the results folder")
    return name


def prepare_folder(path: str | os.PathLike, flag: str) -> Path:
    """Create ``path`` (and parents) if needed and check it is a writable folder; return it resolved.

    Raises:
        UsageError: ``path`` is a file, cannot be created, or is not writable (the message names ``flag``).
    """
    raw = str(path)
    if not raw.strip() or "\x00" in raw:
        raise UsageError(f"{flag} {raw!r} is not a usable path: give a folder, e.g. {flag} runs/vae_d2")
    p = Path(raw).expanduser()
    if p.exists() and not p.is_dir():
        raise UsageError(f"{flag} {p} is a file, not a folder: choose another {flag}")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"{flag} {p}: a part of this path is a file, not a folder: choose another {flag}") from None
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _write_failure(e, p) from None
        raise UsageError(f"{flag} {p} cannot be created ({e.strerror}): choose a folder you can write to") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {p} is not writable: choose a folder you can write to")
    return p.resolve()


class FolderLock:
    """Exclusive ``fcntl.flock`` on ``folder`` (its directory descriptor) for the lifetime of a ``with`` block (or until the process
    ends). A second holder gets :class:`FolderBusy` at once (no waiting).

    Example::

        with FolderLock(out, "--out-dir"):
            ...  # this process alone writes in ``out``
    """

    def __init__(self, folder: Path, flag: str = "--out-dir"):
        self.folder, self.flag, self.fd = Path(folder), flag, None

    def __enter__(self) -> "FolderLock":
        try:
            fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as e:
            raise UsageError(f"cannot open {self.folder} ({e.strerror}): choose a folder you can write to "
                             f"with {self.flag}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise FolderBusy(f"{self.folder} is in use by another process (a train or evaluate writing there): "
                                 f"wait for it to finish or choose another {self.flag}") from None
            raise TrainingError(f"cannot lock {self.folder} ({e.strerror}): use a local folder for {self.flag}") from None
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None


def same_folder(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two spellings name the same folder (``./runs/r1``, ``runs/r1/``, absolute, symlinks)."""
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except OSError:
        return False


__all__ = ["TrainingError", "UsageError", "DiskFull", "FolderBusy", "atomic_write", "atomic_write_set", "torch_bytes", "npz_bytes",
           "remove_stale_temps", "check_name", "prepare_folder", "FolderLock", "same_folder", "fsync_dir",
           "TMP_SUFFIX", "TMP_PREFIX", "TMP_RE", "NAME_RE", "recover_sets"]
