"""The package's exceptions: one clear message naming the file and the fix.

Every error a user can cause (bad path, bad file, bad option) is raised as a subclass of
`DcaseError`; command-line entry points catch it with `cli_errors()` and exit with status 2
after printing the message alone, never a TensorFlow stack trace.
"""
from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def cli_errors():
    """For `main()` functions: print a DcaseError's message and exit with status 2."""
    try:
        yield
    except DcaseError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume.", file=sys.stderr)
        raise SystemExit(130) from None
