"""A user's files, read and written safely: what is read must be a regular file (a named pipe
with no writer would block forever, a device may never end), refused before it is opened; what
is written goes all or nothing, through fresh temporary names, never over a pipe, a device or a
file the command reads.

>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> written = write_files({folder / "a.txt": "one", folder / "b.txt": b"two"})
>>> read_regular_file(folder / "a.txt", 100), [p.name for p in written]
(b'one', ['a.txt', 'b.txt'])
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .errors import SymbackpropError

__all__ = ["FileError", "read_regular_file", "special_kind", "same_file", "refuse_output",
           "write_files"]

_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class FileError(SymbackpropError, ValueError):
    """A path that cannot be read or written as a plain file: not a regular file, or an output
    that would replace one of the command's inputs. ``reason`` is the message without the path,
    for readers that name the file their own way."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


def special_kind(mode: int) -> str | None:
    """What a ``st_mode`` is when it is neither a regular file nor a folder, else None.

    >>> special_kind(os.stat(".").st_mode) is None
    True
    """
    return next((name for test, name in _KINDS if test(mode)), None) or (
        None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else "not a regular file")


def _refuse_unreadable(path: str | os.PathLike[str], mode: int) -> None:
    kind = "a folder" if stat.S_ISDIR(mode) else special_kind(mode)
    if kind:
        # A pipe with no writer blocks open() forever; /dev/zero never ends.
        reason = f"the file is {kind}, not a regular file" + (
            "" if kind == "a folder" else " (it may block, or be larger than any limit)")
        raise FileError(f"{os.fspath(path)}: {reason}", reason)


def read_regular_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """At most ``limit + 1`` bytes of the regular file at ``path`` (one more than the limit, so
    that the caller can tell a file over it); anything else is refused with a FileError before
    it is opened. A missing file raises the OSError of ``os.stat``."""
    _refuse_unreadable(path, os.stat(path).st_mode)
    # Non-blocking, in case a pipe was put in its place since the stat: open then returns at
    # once, and fstat sees what was opened.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
                 | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as f:
        _refuse_unreadable(path, os.fstat(f.fileno()).st_mode)
        return f.read(limit + 1)


def read_input(path: str | os.PathLike[str], limit: int, error: type[Exception]) -> bytes:
    """:func:`read_regular_file`, its refusals raised as ``error`` in one line naming the file
    (a missing file, a pipe or device, an unreadable one), for the readers of user files."""
    try:
        return read_regular_file(path, limit)
    except FileNotFoundError:
        raise error(f"{os.fspath(path)}: no such file") from None
    except FileError as err:
        raise error(str(err)) from None
    except OSError as err:
        raise error(f"{os.fspath(path)}: cannot read the file: {err.strerror or err}") from None


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether both paths name one existing file (through links, hard or symbolic)."""
    try:
        return os.path.samestat(os.stat(a), os.stat(b))
    except (OSError, ValueError):
        return False


def refuse_output(path: str | os.PathLike[str],
                  inputs: Mapping[str, str | os.PathLike[str]] | None = None) -> None:
    """Refuse to write ``path`` when it exists and is a pipe, a device or a socket, or when it is
    one of ``inputs`` (what each names, e.g. ``{"spec file": "s.toml"}``). A folder is left to
    the writer, which says so in its own words."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return  # a new name; or one the writer cannot reach, which it reports
    kind = special_kind(mode)
    if kind:
        raise FileError(f"{os.fspath(path)} is {kind}; an output is written only to a regular "
                        "file or a new name")
    for what, given in (inputs or {}).items():
        if given and same_file(path, given):
            raise FileError(f"{os.fspath(path)} is the {what} itself; write somewhere else")


def _fresh(target: Path, data: bytes) -> str:
    """``data`` in a new temporary file beside ``target``, readable as a written file is."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a written file should not be private
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _backup(target: Path) -> str | None:
    """A second name for the file at ``target`` (a hard link), to put back if a later rename
    fails; None when there is nothing there or the file system cannot link."""
    if not target.is_file():
        return None
    # os.link neither follows nor replaces an existing name: a name taken since mktemp chose
    # it only costs the backup.
    name = tempfile.mktemp(prefix=f".{target.name}.old.", dir=target.parent)
    try:
        os.link(target, name)
    except OSError:
        return None
    return name


def write_files(files: Mapping[str | os.PathLike[str], str | bytes],
                inputs: Mapping[str, str | os.PathLike[str]] | None = None) -> list[Path]:
    """Write several files all or nothing and return where they went.

    Every target is checked first (a folder, a pipe, a device or one of ``inputs`` is refused
    and nothing is written); each is written to a fresh temporary file, then all are renamed
    into place. A failure before the renames leaves nothing behind; a failed rename puts back
    what the earlier ones replaced. A symbolic link is written through, to the file it names
    (as ``>`` does), so that ``-o /dev/stdout`` never replaces the link itself.
    """
    plan: list[tuple[Path, bytes]] = []
    for given, text in files.items():
        refuse_output(given, inputs)
        target = Path(os.path.realpath(given))
        if target.is_dir():
            raise FileError(f"{os.fspath(given)} is a directory; give a file name")
        plan.append((target, text.encode() if isinstance(text, str) else text))
    made: list[tuple[str, Path]] = []
    try:
        for target, data in plan:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.append((_fresh(target, data), target))
    except BaseException:
        for tmp, _target in made:
            Path(tmp).unlink(missing_ok=True)
        raise
    existed = [target.exists() for _tmp, target in made]
    backups = [_backup(target) for _tmp, target in made]
    done = 0
    try:
        for tmp, target in made:
            os.replace(tmp, target)
            done += 1
    except BaseException:
        for k in range(done):
            if backups[k]:
                os.replace(backups[k], made[k][1])
            elif not existed[k]:
                made[k][1].unlink(missing_ok=True)
        for tmp, _target in made[done:]:
            Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        for old in backups:
            if old:
                Path(old).unlink(missing_ok=True)
    return [target for _tmp, target in made]
