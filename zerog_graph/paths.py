"""Where ZeroG keeps what it builds (converted backbones, graphs built from packages, embeddings), and how every file
it writes gets there whole: `published`, a private partial path renamed into place."""

import hashlib
import os
import shutil
import stat
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Optional


def cache_dir() -> Path:
    """Where ZeroG keeps converted backbones, built graphs and embeddings (`ZEROG_CACHE`, default ~/.cache/zerog;
    an empty `ZEROG_CACHE=` is the default too, not the working folder)."""
    return Path(os.environ.get("ZEROG_CACHE") or Path.home() / ".cache" / "zerog")


# The longest file name most file systems hold (NAME_MAX); a temporary name that would be longer is shortened.
NAME_MAX = 255


def partial_path(path: Path) -> Path:
    """A new private name beside `path` to write it under before one rename: `.<name>.<pid>-<random>.partial`, or
    `.<sha256 of name>.<pid>-<random>.partial` where that would be too long a file name (a 240-character name)."""
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    name = f".{path.name}.{tag}.partial"
    if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        digest = hashlib.sha256(path.name.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        name = f".{digest}.{tag}.partial"
    return path.with_name(name)


def remove_entry(path: Path):
    """Removes whatever sits at `path`: a folder, a file, a symlink (never what it points to), a FIFO, socket or
    device node (unlinked, never opened: opening a FIFO blocks)."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # nothing there (or a file where a folder would be)
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path, ignore_errors=True)
    else:
        Path(path).unlink(missing_ok=True)


@contextmanager
def published(target, when: str = "replace", partial: Optional[Path] = None):
    """Yields a private path (`partial`, default `partial_path(target)`) to write `target` into, a file or a folder,
    then renames it into place at once, so that neither a failure nor a second run leaves part of it there; whatever
    fails, nothing partial is left behind. The one place ZeroG writes a file whole.

    `when` decides what happens where `target` exists: "replace" replaces it (a link is replaced, never what it points
    at); "new" refuses it with `FileExistsError` (a hard link, which fails when the name exists, so of two runs at
    once one publishes and the other fails); "first" keeps it and drops this one (two first builds at once: the
    first rename publishes)."""
    target = Path(target)
    partial = partial or partial_path(target)
    try:
        yield partial
        if when == "replace":
            os.replace(partial, target)
        elif when == "first":
            if not os.path.lexists(target):
                try:
                    os.rename(partial, target)  # a folder over a folder that another run published first fails
                except OSError:
                    if not os.path.lexists(target):
                        raise
        else:
            try:
                os.link(partial, target)
            except FileExistsError:
                raise
            except OSError:  # a file system without hard links
                if os.path.lexists(target):
                    raise FileExistsError(target) from None
                os.replace(partial, target)
    finally:
        remove_entry(partial)


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """`target` (a file or a folder), built by `build(path)` into a private path and `published` unless another run
    published it first."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(
            f"Cannot build {target.name} in {target.parent} ({error.strerror}); set ZEROG_CACHE to a writable folder"
        ) from None
    with published(target, "first") as partial:
        build(partial)
    return target


def write_atomically(path, write, overwrite: bool = True) -> None:
    """Writes the text file `path` through `write(file)` all at once (`published`). A symlink at `path`, dangling or
    not, is refused: an output is never written through one. Without `overwrite`, an existing file is refused at the
    rename too. Errors name `path`."""
    path = Path(path)
    if path.is_symlink():
        raise OSError(f"{path} is a symlink; refused (an output is never written through a symlink)")
    try:
        with published(path, "replace" if overwrite else "new") as temp:
            handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # O_EXCL: never through a link
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
    except FileExistsError:  # from the rename: the temporary name is new
        raise FileExistsError(f"{path} already exists; pass --overwrite to replace it") from None
    except OSError as error:
        raise OSError(f"{path}: cannot be written ({error.strerror or error})") from None
