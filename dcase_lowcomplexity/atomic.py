"""Atomic file writes: a reader (or a rerun after `kill -9`) sees the old file or the new one.

Everything is written to a hidden temporary file in the target's folder, flushed and fsync'ed,
then moved over the target with `os.replace` (atomic on POSIX within one file system). The
folder is fsync'ed too so the rename itself survives a crash. Used by checkpoints, logs,
tables, figures and submission files.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

# mkstemp creates files readable by the owner only; give results the usual umask permissions.
_UMASK = os.umask(0)
os.umask(_UMASK)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some file systems do not open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yields a temporary path beside `path`; on success it replaces `path`, else vanishes.

    For writers that take a path (matplotlib, numpy, h5py): `with atomic_path(p) as tmp:
    f(tmp)`. The temporary name ends with the target's extension, which such writers read.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=".tmp" + path.suffix)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Writes `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Writes UTF-8 `text` to `path` atomically (newlines written as given)."""
    return atomic_write_bytes(path, text.encode("utf-8"))
