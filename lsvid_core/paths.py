"""Paths that stay where they belong, and outputs that never destroy what is not ours.

* :func:`safe_component` checks a name read from a file (a dataset's name, a
  camera, a slot) before it becomes one component of a path.
* :func:`relative_inside` checks a relative path read from a file (a frame's
  path) cannot leave the folder it is relative to.
* :func:`check_output` decides whether a command may write (or, with
  ``--overwrite``, replace) an output folder: never one that is, contains or
  lies inside an input; never a symbolic link; and, to replace, only a
  folder this tool wrote (it carries :data:`MARKER`).
* :func:`staged_folder` builds an output under a hidden temporary name and
  renames it into place when complete; temporary folders left by a killed
  run are removed by the next one.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from .errors import OutputExistsError, UnsafeOutputError, UnsafePathError

#: Written into every output folder this tool creates; ``--overwrite`` replaces only folders holding it.
MARKER = ".lsvid-output.json"

# Outputs of versions before the marker: a folder holding one of these files, written by this tool, is ours too.
_LEGACY = {"dataset.json": ("build", "tool", "lsvid"), "footage.json": ("generator", "name", "lsvid")}


def safe_component(name: object, what: str) -> str:
    """``name`` as a single, harmless path component, or :class:`UnsafePathError` naming ``what``."""
    s = str(name)
    bad = (
        not s
        or s in (".", "..")
        or "/" in s
        or "\\" in s
        or "\0" in s
        or len(s.encode()) > 255
        or any(ord(c) < 32 for c in s)
    )
    if bad:
        raise UnsafePathError(f"{what} {s!r}: not usable as a file or folder name (no '/', '\\', '..', control characters; 1-255 bytes)")
    return s


def relative_inside(path: str, what: str) -> str:
    """``path`` if it is relative and has no ``..`` component, else :class:`UnsafePathError`."""
    p = PurePosixPath(path)
    if not path or p.is_absolute() or path.startswith("\\") or ".." in p.parts or "\0" in path:
        raise UnsafePathError(f"{what} {path!r}: must be a relative path inside its root (no leading '/', no '..')")
    return path


def _resolved(p: str | os.PathLike) -> Path:
    return Path(os.path.abspath(os.path.realpath(os.fspath(p))))


def _related(a: Path, b: Path) -> str | None:
    """How ``a`` relates to ``b`` (both resolved): 'is', 'lies inside', 'contains', or None."""
    if a == b:
        return "is"
    if b in a.parents:
        return "lies inside"
    if a in b.parents:
        return "contains"
    return None


# ... and outputs that carry no metadata: a file that starts so, or a folder holding only these files
_LEGACY_TEXT = {"leaderboard.md": "# Leaderboard\n", "identities.csv": "tracklet,person_id,"}
_LEGACY_ONLY = {"sequence_length.png", "sequences_per_camera.png", "sequences_per_identity.png"}


def _legacy_text(folder: Path) -> bool:
    for name, start in _LEGACY_TEXT.items():
        f = folder / name
        if f.is_file() and not f.is_symlink():
            with open(f, "rb") as fh:
                if fh.read(len(start.encode())) == start.encode():
                    return True
    names = {p.name for p in folder.iterdir()}
    return bool(names) and names <= _LEGACY_ONLY


def is_ours(folder: Path) -> bool:
    """True when ``folder`` was written by this tool (its marker, or an older version's metadata)."""
    if (folder / MARKER).is_file():
        return True
    if _legacy_text(folder):
        return True
    for name, (key, sub, prefix) in _LEGACY.items():
        f = folder / name
        if not f.is_file():
            continue
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        val = data.get(key) if isinstance(data, dict) else None
        if sub is not None:
            val = val.get(sub) if isinstance(val, dict) else None
        if val is not None and (prefix is None or str(val).startswith(prefix)):
            return True
    return False


def check_location(out: Path, option: str = "--out", *, folder: bool = True) -> Path:
    """``out`` can be written where it is: no dangling symbolic link, nothing but folders above
    it, a writable folder to create it in (or, existing, writable itself), and (for ``folder``)
    not an existing file."""
    out = Path(out)
    if out.is_symlink() and not out.exists():
        raise UnsafeOutputError(f"{option} {out}: is a dangling symbolic link")
    if out.exists():
        if folder and not out.is_dir():
            raise UnsafeOutputError(f"{option} {out}: is a file, not a folder")
        if out.is_dir() and not os.access(out, os.W_OK):
            raise UnsafeOutputError(f"{option} {out}: is not writable")
        return out
    for parent in out.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UnsafeOutputError(f"{option} {out}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK):
                raise UnsafeOutputError(f"{option} {out}: its folder {parent} is not writable")
            break
    return out


def check_output(
    out: str | os.PathLike,
    *,
    overwrite: bool,
    inputs: Iterable[tuple[str, str | os.PathLike | None]] = (),
    hosts: Iterable[tuple[str, str | os.PathLike | None]] = (),
    option: str = "--out",
    kind: str = "folder",
) -> Path:
    """Refuse an output that could destroy data; returns ``out`` as a Path.

    ``inputs`` are ``(option, path)`` pairs of what the command reads.  The
    output must not be a symbolic link (dangling or not), nor sit under a
    regular file; replacing it (``overwrite``) is allowed only for a folder
    this tool wrote that neither is, contains nor lies inside an input.
    ``hosts`` are inputs the output may lie inside (a dataset holding its own
    ``review/``), though it may still neither be nor contain them.
    """
    out = Path(out)
    if out.is_symlink():
        raise UnsafeOutputError(f"{option} {out}: is a symbolic link{' (dangling)' if not out.exists() else ''}; give the real path of the {kind} to write")
    check_location(out, option, folder=False)
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return out  # nothing there to lose
    if not overwrite:
        raise OutputExistsError(f"{option} {out}: already exists (pass --overwrite to replace it)")
    if not out.is_dir():
        raise UnsafeOutputError(f"{option} {out}: is a file, not a {kind}; --overwrite replaces only a {kind} this tool wrote")
    target = _resolved(out)
    for name, path, allowed in [*((n, p, ()) for n, p in inputs), *((n, p, ("lies inside",)) for n, p in hosts)]:
        if path is None:
            continue
        rel = _related(target, _resolved(path))
        if rel is not None and rel not in allowed:
            raise UnsafeOutputError(f"{option} {out}: {rel} the input {name} {path}; replacing it would destroy that. Choose another {option}")
    if not is_ours(out) and any(out.iterdir()):
        raise UnsafeOutputError(
            f"{option} {out}: is not a {kind} this tool wrote (no {MARKER}); --overwrite replaces only its own outputs. "
            "Remove it yourself or choose another " + option
        )
    return out


def check_not_inside_inputs(out: str | os.PathLike, inputs: Iterable[tuple[str, str | os.PathLike | None]], option: str = "--out") -> None:
    """Refuse an output folder that is or contains an input (writing there would mix or lose files)."""
    target = _resolved(out)
    for name, path in inputs:
        if path is None:
            continue
        rel = _related(target, _resolved(path))
        if rel in ("is", "contains"):
            raise UnsafeOutputError(f"{option} {out}: {rel} the input {name} {path}; choose another {option}")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object], *, unique: bool = True) -> Path:
    """Have ``write(tmp)`` write the file, under a hidden temporary name beside ``path``, then
    rename it over ``path``: a reader (or a crash) never sees half a file, and a failed write
    leaves the old one.  ``unique=False`` uses the fixed name ``.<name>.tmp`` for callers whose
    bytes depend on the name (``torch.save`` records it) and who hold the folder alone."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{_owner_tag()}-{uuid.uuid4().hex[:8]}" if unique else f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()
    return path


def atomic_write_text(path: str | os.PathLike, text: str, *, unique: bool = True) -> Path:
    """:func:`atomic_write` of ``text`` (UTF-8, ``\\n`` line ends)."""
    return atomic_write(path, lambda t: t.write_text(text, encoding="utf-8", newline="\n"), unique=unique)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, unique: bool = True) -> Path:
    """:func:`atomic_write` of ``data``."""
    return atomic_write(path, lambda t: t.write_bytes(data), unique=unique)


def _host() -> str:
    return socket.gethostname().split(".")[0]


def _owner_tag() -> str:
    return f"{_host()}-{os.getpid()}"


def _alive(tag: str) -> bool:
    """Whether the process a temporary folder's ``host-pid`` tag names may still be writing it."""
    host, _, pid = tag.rpartition("-")
    if not host or not pid.isdigit():
        return False  # no owner recorded (an older version's name): stale
    if host != _host():
        return True  # another machine's run, perhaps still going
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(out: Path) -> list[Path]:
    """Clean up after killed runs: hidden ``.<name>.tmp-*`` siblings of ``out`` whose owner is
    gone are removed; an ``.<name>.old-*`` (a kill between the two renames of
    :func:`replace_folder`) is put back as ``out`` when ``out`` is missing, else removed."""
    removed = []
    if not out.parent.is_dir():
        return removed
    for kind in ("old", "tmp"):
        prefix = f".{out.name}.{kind}-"
        for p in sorted(out.parent.glob(prefix + "*")):
            if p.is_symlink() or _alive(p.name[len(prefix):].rsplit("-", 1)[0]):
                continue
            if kind == "old" and not out.exists() and not out.is_symlink():
                os.replace(p, out)
                continue
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def write_marker(folder: Path, kind: str, tool: str) -> None:
    from . import __version__

    atomic_write_text(folder / MARKER, json.dumps({"kind": kind, "tool": tool, "version": __version__}, indent=2, sort_keys=True) + "\n")


def replace_folder(complete: Path, out: Path) -> None:
    """Rename the finished folder ``complete`` to ``out``, replacing an existing ``out``.

    The old folder is moved aside first and deleted after, so at every moment
    ``out`` is either the old complete folder or the new one.
    """
    if out.exists():
        old = out.with_name(f".{out.name}.old-{_owner_tag()}-{uuid.uuid4().hex[:8]}")
        os.replace(out, old)
        os.replace(complete, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(complete, out)


@contextmanager
def staged_folder(out: str | os.PathLike, *, kind: str, tool: str) -> Iterator[Path]:
    """Yield a fresh hidden folder beside ``out``; on success it gets :data:`MARKER` and
    replaces ``out``; on failure it is removed.  Leftovers of killed runs go first."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out)
    tmp = out.with_name(f".{out.name}.tmp-{_owner_tag()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        yield tmp
        write_marker(tmp, kind, tool)
        replace_folder(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


__all__ = [
    "MARKER",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_location",
    "check_not_inside_inputs",
    "check_output",
    "is_ours",
    "relative_inside",
    "remove_stale",
    "replace_folder",
    "safe_component",
    "staged_folder",
    "write_marker",
]
