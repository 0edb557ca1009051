"""Keep every path that a name or a setting builds inside the folder it belongs to.

Names arrive from places an attacker may write: a file name or a symlink in the docs folder, a
run config typed into the Dagster UI, a prompt reference in an HTTP request, a case id on the
command line. Joined to a folder, `../../etc/passwd` or a symlink to `/` would read, write or
delete a file elsewhere. Every such join goes through `inside`, and every document read goes
through `read_inside`, which also refuses a folder that a symlink swapped in between the check
and the read.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from llmops.errors import InputError

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
"""What a prompt or context name may be: it also names folders and Dagster partitions."""
NAME_MAX_LENGTH = 64
_NAME = re.compile(NAME_PATTERN)


class OutsideFolderError(InputError):
    """A path resolves (through `..` or a symlink) to somewhere outside its folder."""


def resolved(path: Path) -> Path:
    """`path` with every symlink and `..` resolved; a symlink loop stays unresolved (opening it
    then fails with ELOOP) instead of raising, as `Path.resolve` does on Python 3.11."""
    return Path(os.path.realpath(path))


def inside(folder: Path, relative: str | Path, what: str, hint: str = "") -> Path:
    """`folder / relative`, resolved, once it is inside `folder` (also resolved).

    `relative` may be absolute when it points inside `folder`. Raises `OutsideFolderError`
    naming `what` (for instance "eval set") and saying `hint` otherwise, so neither a `..` nor
    a symlink can leave the folder.
    """
    root = resolved(folder)
    path = resolved(root / relative)
    if not path.is_relative_to(root):
        raise OutsideFolderError(
            f"{what} {str(relative)!r} is outside {root}" + (f": {hint}" if hint else "")
        )
    return path


def check_name(name: str, what: str) -> str:
    """`name` once it is a valid prompt or context name (lowercase letters, digits, `-`, `_`)."""
    if len(name) > NAME_MAX_LENGTH or not _NAME.match(name):
        raise InputError(
            f"{what} name {name!r} is not valid: use lowercase letters, digits, '-' and '_' "
            f"(at most {NAME_MAX_LENGTH} characters)"
        )
    return name


def _opened_path(fd: int) -> Path | None:
    """The path the kernel holds for an open file (Linux), None where /proc is missing."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return None


def read_inside(path: Path, root: Path) -> bytes:
    """The bytes of the regular file `path`, which must resolve inside `root` (resolved).

    Raises `OutsideFolderError` when it resolves elsewhere, `FileNotFoundError` when it is
    gone, and `OSError` for anything that is not a regular file (a folder, a FIFO that would
    block the read). The file is opened without following a last symlink, and on Linux the
    opened file's own path is checked again, so swapping a symlink in after the check fails.
    """
    real = resolved(path)
    if not real.is_relative_to(root):
        raise OutsideFolderError(f"{path} resolves to {real}, outside {root}")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(real, flags)
    with os.fdopen(fd, "rb") as file:
        opened = _opened_path(fd)
        if opened is not None and not opened.is_relative_to(root):
            raise OutsideFolderError(f"{path} was opened as {opened}, outside {root}")
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file", str(path))
        return file.read()
