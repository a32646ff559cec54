"""The package's exceptions: one clear message naming the file and the fix.

Every error a user can cause (bad path, bad file, bad option) is raised as a subclass of
`DcaseError`; command-line entry points catch it with `cli_errors()` and exit with status 2
after printing the message alone, never a TensorFlow stack trace. `cli_errors()` also turns
an `OSError` (permission denied, read-only file system, disk full, a file where a folder is
needed …) into one line naming the path (`err.filename`) and the fix, exit 2.
"""
from __future__ import annotations

import contextlib
import errno
import re
import sys
from pathlib import Path


class DcaseError(Exception):
    """Base class: `path` is the offending file (or None), `fix` says what to do."""

    def __init__(self, message: str, path: str | Path | None = None, fix: str | None = None):
        self.path = None if path is None else Path(path)
        self.fix = fix
        parts = [f"{self.path}: {message}" if self.path is not None else message]
        if fix:
            parts.append(f"Fix: {fix}")
        super().__init__(" ".join(parts))


class ConfigError(DcaseError):
    """An option or configuration value that cannot work."""


class DatasetError(DcaseError):
    """A dataset folder or CSV that does not follow the official layout."""


class AudioError(DcaseError):
    """An audio file that cannot be read or does not match the expected format."""


class StoreError(DcaseError):
    """A feature store that is missing, incomplete, corrupt or made with other parameters."""


class ModelFileError(DcaseError):
    """A saved model file that is truncated, corrupt, tampered with or of another version."""


class RunError(DcaseError):
    """A run directory that cannot be resumed or written."""


_RERUN = "then rerun the same command (work already done is kept where the command resumes)"
_OS_FIXES = {
    errno.EACCES: ("permission denied", "give your user write (or read) access to it, or "
                   "choose another path"),
    errno.EPERM: ("operation not permitted", "give your user access to it, or choose another "
                  "path"),
    errno.EROFS: ("read-only file system", "write the output to a folder on writable media"),
    errno.ENOSPC: ("no space left on the device", f"free disk space there or choose another "
                   f"output folder, {_RERUN}"),
    errno.EDQUOT: ("disk quota exceeded", f"free space within your quota, {_RERUN}"),
    errno.ENOTDIR: ("a part of this path is a file where a folder is needed",
                    "move that file away or choose another path"),
    errno.EISDIR: ("is a folder where a file is needed", "name a file (e.g. inside that "
                   "folder) instead"),
    errno.EEXIST: ("already exists (as a file where a folder is needed, or a leftover)",
                   "move it away or choose another path"),
    errno.ENOENT: ("not found", "check the path (a parent folder may be missing)"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n) or use fewer workers"),
}
_ERRNO_IN_TEXT = re.compile(r"errno = (\d+)|\[Errno (\d+)\]")


def os_error_errno(err: OSError) -> int | None:
    """The errno of an OSError, also when HDF5 only names it inside the message."""
    if err.errno:
        return err.errno
    match = _ERRNO_IN_TEXT.search(str(err))
    return int(next(g for g in match.groups() if g)) if match else None


def with_path(err: OSError, path) -> OSError:
    """`err` with `path` as its filename when the system did not report one (os.write on a
    descriptor, HDF5's own errors), keeping its errno, for `cli_errors` to name the file."""
    if err.filename is not None:
        return err
    code = os_error_errno(err)
    return type(err)(code, err.strerror or str(err), str(path)) if code else OSError(
        errno.EIO, str(err), str(path))


def describe_os_error(err: OSError) -> str:
    """One line: the path(s), what went wrong and the fix (for `cli_errors`)."""
    code = os_error_errno(err)
    what, fix = _OS_FIXES.get(code, (err.strerror or str(err) or type(err).__name__,
                                     "check the path, the disk and the permissions"))
    paths = [p for p in (err.filename, getattr(err, "filename2", None)) if p is not None]
    where = " → ".join(str(p) for p in paths) if paths else "(path not reported by the system)"
    return f"{where}: {what}. Fix: {fix}."


@contextlib.contextmanager
def cli_errors():
    """For `main()` functions: print a DcaseError's message (or an OSError as one line naming
    the path and the fix) and exit with status 2."""
    try:
        yield
    except DcaseError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as err:
        print(f"error: {describe_os_error(err)}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume.", file=sys.stderr)
        raise SystemExit(130) from None
