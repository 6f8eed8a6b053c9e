"""Where ZeroG keeps what it builds: converted backbones, graphs built from packages, embeddings."""

import hashlib
import os
import shutil
import stat
import uuid
from pathlib import Path
from typing import Callable


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


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """`target` (a file or a folder), built by `build(path)` into a private `.partial` path of this process, then
    renamed into place at once. Two first runs at the same time each build their own; the first rename publishes,
    the later one finds `target` there and discards its own. Nothing partial is left behind, whatever fails."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(
            f"Cannot build {target.name} in {target.parent} ({error.strerror}); set ZEROG_CACHE to a writable folder"
        ) from None
    partial = partial_path(target)
    try:
        build(partial)
        if not os.path.lexists(target):
            try:
                os.rename(partial, target)  # a folder over a folder that another run published first fails
            except OSError:
                if not os.path.lexists(target):
                    raise
    finally:
        if os.path.isdir(partial) and not os.path.islink(partial):
            shutil.rmtree(partial, ignore_errors=True)
        elif os.path.lexists(partial):
            os.unlink(partial)
    return target


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
        path.unlink(missing_ok=True)
