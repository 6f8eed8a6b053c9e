"""Where ZeroG keeps what it builds: converted backbones, graphs built from packages, embeddings."""

import os
import shutil
import uuid
from pathlib import Path
from typing import Callable


def cache_dir() -> Path:
    """Where ZeroG keeps converted backbones, built graphs and embeddings (`ZEROG_CACHE`, default ~/.cache/zerog;
    an empty `ZEROG_CACHE=` is the default too, not the working folder)."""
    return Path(os.environ.get("ZEROG_CACHE") or Path.home() / ".cache" / "zerog")


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """`target` (a file or a folder), built by `build(path)` into a private `.partial` path of this process, then
    renamed into place at once. Two first runs at the same time each build their own; the first rename publishes,
    the later one finds `target` there and discards its own. Nothing partial is left behind, whatever fails."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial")
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
