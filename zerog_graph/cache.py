"""Embedding cache on `datasets`, keyed by everything that changes the vectors.

An entry is a `datasets.Dataset` saved under `<root>/<model fingerprint>/<texts key>`. It is
written to a temporary folder and renamed into place, so an interrupted write leaves nothing that
reads as valid; an entry that fails to load or has the wrong shape is rebuilt.
"""

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Optional

import torch

from .backbones import cache_dir

logger = logging.getLogger(__name__)


def model_fingerprint(model) -> str:
    """A hash of what decides a model's embeddings: backbone and revision (or the local weights'
    size and time), pooling, template, max length, dtype, quantisation and the adapter's weights."""
    config = model.config
    digest = hashlib.sha256()
    settings = {
        "lm": config.lm_name_or_path,
        "revision": config.lm_revision,
        "pooling": model.pooling_mode,
        "template": config.template,
        "max_length": model.max_length,
        "quantization": config.quantization,
        "dtype": str(next(model.lm.parameters()).dtype),
        "lm_path": getattr(model, "lm_path", None),
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    local = Path(settings["lm_path"] or config.lm_name_or_path)
    if local.is_dir():
        for weights in sorted(local.glob("*.safetensors")):
            stat = weights.stat()
            digest.update(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    for name, param in sorted(model.lm.named_parameters()):
        if "lora_" in name:
            digest.update(name.encode())
            digest.update(param.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:20]


def texts_key(texts: list) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    return f"{len(texts)}-{digest.hexdigest()[:20]}"


def process_state():
    """accelerate's process state. Without CUDA it is a CPU state, so that processes started by
    `accelerate launch --multi_gpu --num_processes N` (torchrun) form a gloo group on a CPU machine."""
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available())


def encode_sharded(model, texts: list, batch_size: int = 32, show_progress_bar: bool = False) -> torch.Tensor:
    """`model.encode`, split across the processes of `accelerate launch` and gathered on all."""
    from accelerate.utils import gather_object

    state = process_state()
    if state.num_processes == 1:
        return model.encode(texts, batch_size=batch_size, show_progress_bar=show_progress_bar)
    with state.split_between_processes(list(range(len(texts)))) as shard:
        embeds = model.encode(
            [texts[i] for i in shard],
            batch_size=batch_size,
            show_progress_bar=show_progress_bar and state.is_main_process,
        )
    parts = gather_object([(shard, embeds)])
    merged = torch.empty(len(texts), parts[0][1].size(1))
    for rows, part in parts:
        merged[rows] = part
    return merged


class EmbeddingCache:
    """Looks up or computes the embeddings of a list of texts for a model."""

    def __init__(self, root: Optional[Path] = None):
        self.root = Path(root) if root else cache_dir() / "embeddings"

    def path(self, fingerprint: str, texts: list) -> Path:
        return self.root / fingerprint / texts_key(texts)

    def load(self, path: Path, num_rows: int) -> Optional[torch.Tensor]:
        from datasets import Dataset

        if not path.exists():
            return None
        try:
            embeds = Dataset.load_from_disk(str(path)).with_format("torch")["embedding"][:]
            if embeds.shape[0] != num_rows or not torch.isfinite(embeds).all():
                raise ValueError(f"shape {tuple(embeds.shape)} for {num_rows} texts")
            return embeds.float()
        except Exception as error:  # a truncated or damaged entry is rebuilt, never trusted
            logger.warning(f"Embedding cache entry {path} is damaged ({error}); rebuilding it.")
            shutil.rmtree(path, ignore_errors=True)
            return None

    def save(self, path: Path, embeds: torch.Tensor):
        from datasets import Dataset

        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
        Dataset.from_dict({"embedding": embeds.numpy()}).save_to_disk(str(partial))
        if path.exists():
            shutil.rmtree(path)
        os.replace(partial, path)

    def encode(
        self,
        model,
        texts: list,
        fingerprint: Optional[str] = None,
        batch_size: int = 32,
        show_progress_bar: bool = False,
    ) -> torch.Tensor:
        path = self.path(fingerprint or model_fingerprint(model), texts)
        embeds = self.load(path, len(texts))
        if embeds is not None:
            return embeds
        embeds = encode_sharded(model, texts, batch_size, show_progress_bar)
        state = process_state()
        if state.is_main_process:
            self.save(path, embeds)
        state.wait_for_everyone()
        return embeds
