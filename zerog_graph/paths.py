"""Where ZeroG keeps what it builds: converted backbones, graphs built from packages, embeddings."""

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where ZeroG keeps converted backbones, built graphs and embeddings (`ZEROG_CACHE`, default ~/.cache/zerog;
    an empty `ZEROG_CACHE=` is the default too, not the working folder)."""
    return Path(os.environ.get("ZEROG_CACHE") or Path.home() / ".cache" / "zerog")
