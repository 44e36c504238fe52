"""The one root of every error a user can cause, and its few shared kinds.

Every error that a mistake in an input, an option or a config file can raise
derives from :class:`LsvidError`, and also from the built-in exception it
stands for (``ValueError``, ``FileNotFoundError``, ...), so library callers
can catch either.  The command line catches :class:`LsvidError` alone and
prints its message on one line; anything else is a bug and keeps its
traceback.  Filesystem errors (``OSError`` with a file name) are turned into
a message naming the path by :func:`describe_os_error`.
"""
from __future__ import annotations

import errno
import os


class LsvidError(Exception):
    """A user-facing error: its message names the file or option and what was expected."""


class ConfigError(LsvidError, ValueError):
    """A config file or option: unknown key, wrong type, or a value out of range."""


class InputError(LsvidError, ValueError):
    """An input file or value is not what a command expects (shape, type, content)."""


class MissingInputError(LsvidError, FileNotFoundError):
    """An input file or folder does not exist."""


class OutputExistsError(LsvidError, FileExistsError):
    """The output already exists and ``--overwrite`` was not given."""


class UnsafeOutputError(LsvidError, ValueError):
    """Writing (or replacing) this output could destroy data that is not ours:
    an input, a folder this tool did not write, or the target of a symbolic link."""


class UnsafePathError(LsvidError, ValueError):
    """A name or path read from a file would lead outside its root folder."""


class DeviceError(LsvidError, RuntimeError):
    """The compute device asked for does not exist on this machine."""


class FileSystemError(LsvidError, OSError):
    """An operating-system error on a path, reworded to name that path."""


class UnknownNameError(LsvidError, KeyError):
    """A name (a method, a backbone, a detector, a dataset reader) that nothing is registered under."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(LsvidError, ImportError):
    """An optional package (or a part of one) that a chosen option needs is not installed."""


_HINTS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on device",
    errno.ENOTDIR: "a part of this path is a file, not a folder",
    errno.EISDIR: "is a folder, expected a file",
    errno.ENOENT: "no such file or folder",
    errno.ELOOP: "too many levels of symbolic links",
    errno.ENAMETOOLONG: "file name too long",
    errno.EEXIST: "already exists",
    errno.ENOTEMPTY: "folder not empty",
}


def describe_os_error(e: OSError) -> str:
    """``PATH: what went wrong`` for an OS error (its file names, if it has them)."""
    what = _HINTS.get(e.errno or -1) or e.strerror or str(e)
    names = [str(n) for n in (e.filename, e.filename2) if n is not None]
    if not names:
        return what
    where = " -> ".join(os.fspath(n) for n in names)
    return f"{where}: {what}"


__all__ = [
    "ConfigError",
    "DeviceError",
    "FileSystemError",
    "InputError",
    "LsvidError",
    "MissingDependencyError",
    "MissingInputError",
    "OutputExistsError",
    "UnsafeOutputError",
    "UnknownNameError",
    "UnsafePathError",
    "describe_os_error",
]


def first_line(e: BaseException) -> str:
    """The first non-blank line of a library's (often many-line) error message, else the error's type."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__
