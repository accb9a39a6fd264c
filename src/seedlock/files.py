"""How seedlock reads and writes files: regular files only, atomically, with the user's umask,
never over one of its inputs.

Every command that writes goes through :func:`atomic_write_bytes`, so the rules live here
once: a temporary file in the same folder, fsync, then a rename (a reader never sees half
a file, a kill leaves the old file whole); a new file gets the mode the umask gives
(``mkstemp`` alone would make it 0600), an existing one keeps its mode; a symlink's
target is written, so the link stays a link. Temporary files carry the writer's PID, and
the next write to the same path removes those whose writer is gone (a kill -9 mid-write
leaves nothing behind for long).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from seedlock.errors import NotARegularFile, OutputIsInput, OutputKindMismatch

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageListing",
    "atomic_write_bytes",
    "check_output",
    "find_images",
    "open_regular",
    "same_file",
    "usable_cpus",
]

#: the file endings of the images seedlock reads
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".jfif")

_TMP_SUFFIX = ".seedlock-tmp"


def _umask_mode() -> int:
    """The mode a new file gets: 0666 less the umask (read from /proc where it can, since setting
    the umask to read it would race with other threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale(folder: Path, name: str) -> None:
    """Remove temporary files of earlier writes to ``name`` whose writing process is gone."""
    prefix = f".{name}."
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(_TMP_SUFFIX)):
            continue
        middle = entry.name[len(prefix) : -len(_TMP_SUFFIX)]
        pid_text = middle.split(".", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never half.

    A symlink is followed (its target is replaced, the link kept); a new file gets the
    umask's mode, an existing one keeps its own.
    """
    p = Path(path)
    if p.is_symlink():
        p = Path(os.path.realpath(p))
    folder = p.parent if str(p.parent) else Path(".")
    _clean_stale(folder, p.name)
    tmp = folder / f".{p.name}.{os.getpid()}.{secrets.token_hex(4)}{_TMP_SUFFIX}"
    try:
        mode = os.stat(p).st_mode & 0o7777
    except FileNotFoundError:
        mode = _umask_mode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def open_regular(path: str | os.PathLike[str]) -> int:
    """A read-only descriptor for ``path``, refused unless it is a regular file.

    Opened non-blocking, so a FIFO (which would block ``open`` until a writer appears) or
    a device is refused at once instead of hanging; the caller closes the descriptor.

    Raises:
        NotARegularFile: a FIFO, socket, device or directory.
        OSError: the file cannot be opened.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(f"is {_kind_of(mode)}, not a regular file; skipped", path=path)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when both paths name one file (same inode, through any symlinks)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(
    out: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike[str]],
    *,
    kind: str | None = None,
    force: bool = False,
) -> None:
    """Refuse an output path that is one of the inputs, or an existing file of another kind.

    Args:
        out: where the command is about to write.
        inputs: the files the command reads.
        kind: what the output is (``html``, ``toml``, ``png``); an existing file whose
            first bytes say it is something else is refused unless ``force``.
        force: allow replacing an existing file of another kind (never an input).

    Raises:
        OutputIsInput: ``out`` is one of ``inputs``.
        OutputKindMismatch: ``out`` exists and holds another kind of file.
    """
    for src in inputs:
        if same_file(out, src):
            raise OutputIsInput(f"is also an input ({src}); refusing to write over it", path=out)
    if kind is None or force:
        return
    try:
        with open(out, "rb") as f:
            head = f.read(16)
    except OSError:
        return
    found = sniff_kind(head)
    if found is not None and found != kind:
        raise OutputKindMismatch(f"exists and holds a {found} file, not {kind}", path=out, found=found, wanted=kind)


def sniff_kind(head: bytes) -> str | None:
    """The kind of an existing file from its first bytes (images and archives), else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if len(head) >= 8 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 1 << 32:
        return "safetensors"
    if head.startswith(b"SQLite format 3"):
        return "sqlite"
    return None


@dataclass(frozen=True)
class ImageListing:
    """The image files under some paths, and what could not be looked at."""

    files: tuple[str, ...]
    #: one line each: an unreadable folder, a path that does not exist
    problems: tuple[str, ...] = ()
    #: folders given that held no image (at the top level without ``recursive``)
    empty: tuple[str, ...] = ()


def find_images(paths: Iterable[str], recursive: bool = False) -> ImageListing:
    """Files as given; folders expanded to their images (sorted), sub-folders too with ``recursive``.

    Non-regular entries (FIFOs, sockets) inside folders are listed like files, so that
    opening them is refused with a message; unreadable sub-folders are reported, not skipped silently.
    """
    files: list[str] = []
    problems: list[str] = []
    empty: list[str] = []
    for p in paths:
        if not os.path.isdir(p):
            files.append(p)
            continue
        before = len(files)
        if recursive:

            def report(exc: OSError) -> None:
                problems.append(f"{exc.filename}: {exc.strerror or exc}; folder skipped")

            for dirpath, dirnames, filenames in os.walk(p, onerror=report):
                dirnames.sort()
                files.extend(os.path.join(dirpath, n) for n in sorted(filenames) if n.lower().endswith(IMAGE_SUFFIXES))
        else:
            try:
                names = sorted(os.listdir(p))
            except OSError as exc:
                problems.append(f"{p}: {exc.strerror or exc}; folder skipped")
                continue
            for name in names:
                full = os.path.join(p, name)
                if name.lower().endswith(IMAGE_SUFFIXES) and not os.path.isdir(full):
                    files.append(full)
        if len(files) == before:
            empty.append(p)
    return ImageListing(tuple(files), tuple(problems), tuple(empty))


def usable_cpus() -> int:
    """CPUs this process may run on (a container's CPU set, not the host's count): how many files to read at once."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1
