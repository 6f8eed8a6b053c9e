"""Embedding cache on `datasets`, keyed by everything that changes the vectors.

An entry is a `datasets.Dataset` saved under `<root>/<model fingerprint>/<texts key>`, with the
sha256 and shape of its float32 payload in `zerog.json` beside it. It is written to a temporary
folder and renamed into place, so an interrupted write leaves nothing that reads as valid; an entry
that fails to load, has the wrong shape or fails its checksum is rebuilt. When another process
wrote the same entry first, its entry stands. A cache that cannot be written is skipped with a
warning.
"""

import errno
import hashlib
import json
import logging
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Optional

import torch

from configuration_zerog import fill_template

from .console import quiet_progress_bars
from .distributed import encode_sharded, process_state
from .paths import cache_dir
from .precision import INT8_SCHEME, precision_of

logger = logging.getLogger(__name__)
METADATA = "zerog.json"
# Loading details of a tokenizer that do not change its output (paths differ between copies).
_PER_CALL = ("padding", "truncation")
_TOKENIZER_LOAD_KWARGS = ("name_or_path", "is_local", "local_files_only", "cache_dir", "token", "_commit_hash")


def stable_json(value) -> str:
    """JSON of `value` that is the same in every process: keys sorted, and sets (peft keeps `target_modules` as
    one, whose order follows `PYTHONHASHSEED`) as sorted lists; anything else JSON lacks as its `str`."""
    return json.dumps(
        value, sort_keys=True, default=lambda v: sorted(map(str, v)) if isinstance(v, (set, frozenset)) else str(v)
    )


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of everything that decides a tokenizer's ids: a fast tokenizer's serialised state (or a
    slow one's vocabulary files), its init arguments, special tokens, padding side and max length."""
    digest = hashlib.sha256()
    if getattr(tokenizer, "is_fast", False):  # less padding and truncation, which each call sets anew
        backend = {k: v for k, v in json.loads(tokenizer.backend_tokenizer.to_str()).items() if k not in _PER_CALL}
        digest.update(json.dumps(backend, sort_keys=True).encode())
    init_kwargs = {k: v for k, v in tokenizer.init_kwargs.items() if k not in _TOKENIZER_LOAD_KWARGS}
    for key, value in sorted(init_kwargs.items()):
        if key.endswith("_file") and isinstance(value, str) and Path(value).is_file():
            digest.update(Path(value).read_bytes())
            init_kwargs[key] = Path(value).name
    state = {
        "class": type(tokenizer).__name__,
        "init_kwargs": init_kwargs,
        "special_tokens": tokenizer.special_tokens_map,
        "added_tokens": tokenizer.added_tokens_decoder,
        "padding_side": tokenizer.padding_side,
        "truncation_side": tokenizer.truncation_side,
        "model_max_length": tokenizer.model_max_length,
    }
    digest.update(stable_json(state).encode())
    return digest.hexdigest()[:20]


def tokenize_version(model):
    """`TOKENIZE_VERSION` of the code that tokenizes for `model`: a remote-code folder runs its own copy of
    `modeling_zerog.py` (None where that copy predates the constant)."""
    return getattr(sys.modules.get(type(model).__module__), "TOKENIZE_VERSION", None)


def model_fingerprint(model) -> str:
    """A hash of what decides a model's embeddings: backbone and revision (or the local weights'
    size and time), tokenizer and `tokenize_texts` version, pooling, template, max length, precision
    (dtype, int8 or the bitsandbytes quantisation) and the adapter's weights."""
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
        "precision": precision_of(model),
        "int8_scheme": INT8_SCHEME if precision_of(model) == "int8" else None,
        "tokenizer": tokenizer_fingerprint(model.tokenizer),
        "tokenize_version": tokenize_version(model),
        "lm_path": getattr(model, "lm_path", None),
        # The backbone's config as loaded (layers, sizes, ...), the Hub commit it resolved to, and the
        # adapter's config (alpha, targets, ...): a changed config.json must not reuse entries.
        "lm_config": config.lm_config,
        "lm_commit": getattr(model.lm.config, "_commit_hash", None),
        "adapter": {name: c.to_dict() for name, c in getattr(model.lm, "peft_config", {}).items()},
    }
    if getattr(config, "hidden_layer", -1) != -1:  # absent at -1, so entries from before the field stay valid
        settings["hidden_layer"] = config.hidden_layer
    digest.update(stable_json(settings).encode())
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


def texts_key(texts: list, template=None) -> str:
    """A hash of the texts, and of `template` (the filled one) where given."""
    digest = hashlib.sha256()
    if template is not None:
        digest.update(stable_json({"template": template}).encode())
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    return f"{len(texts)}-{digest.hexdigest()[:20]}"


def checksum(embeds: torch.Tensor) -> str:
    """sha256 of a float32 tensor's bytes."""
    return hashlib.sha256(embeds.float().contiguous().numpy().tobytes()).hexdigest()


def remove_entry(path: Path):
    """Removes whatever sits at `path`: a folder, a file or a symlink (never what a symlink points to)."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def remove_stale_partials(path: Path):
    """Partial folders of `path` left by processes that no longer run (killed while writing)."""
    for partial in path.parent.glob(f"{path.name}.partial-*"):
        pid = partial.name.rsplit(".partial-", 1)[1].split("-")[0]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(partial, ignore_errors=True)
        except (ValueError, PermissionError):  # not ours to judge, or alive under another user
            pass


class EmbeddingCache:
    """Looks up or computes the embeddings of a list of texts for a model."""

    def __init__(self, root: Optional[Path] = None):
        self.root = Path(root) if root else cache_dir() / "embeddings"

    def path(self, fingerprint: str, texts: list, template=None) -> Path:
        return self.root / fingerprint / texts_key(texts, template)

    def load(self, path: Path, num_rows: int, width: Optional[int] = None) -> Optional[torch.Tensor]:
        """The entry's `[num_rows, width]` embeddings, or None (after removing it) when it is missing,
        damaged, of another shape, or not what its checksum says."""
        from datasets import Dataset

        if not (path.exists() or path.is_symlink()):
            return None
        try:
            if path.is_symlink() or not path.is_dir():
                raise ValueError("not a folder")
            metadata = json.loads((path / METADATA).read_text(encoding="utf-8"))
            embeds = Dataset.load_from_disk(str(path)).with_format("torch")["embedding"][:]
            expected = [num_rows, width if width is not None else embeds.shape[-1]]
            if embeds.dim() != 2 or list(embeds.shape) != expected:
                raise ValueError(f"shape {tuple(embeds.shape)}, expected {tuple(expected)}")
            if not torch.isfinite(embeds).all():
                raise ValueError("non-finite values")
            if checksum(embeds) != metadata["sha256"]:
                raise ValueError("checksum mismatch")
            return embeds.float()
        except Exception as error:  # a truncated or damaged entry is rebuilt, never trusted
            logger.warning(f"Embedding cache entry {path} is damaged ({error}); rebuilding it.")
            remove_entry(path)
            return None

    def save(self, path: Path, embeds: torch.Tensor):
        """Writes the entry to a partial folder and renames it into place; a lost race (another
        process renamed the same entry first) leaves that entry and counts as success."""
        from datasets import Dataset

        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(path)
        partial = path.with_name(f"{path.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            with quiet_progress_bars():
                Dataset.from_dict({"embedding": embeds.float().numpy()}).save_to_disk(str(partial))
            metadata = {"sha256": checksum(embeds), "shape": list(embeds.shape), "dtype": "float32"}
            (partial / METADATA).write_text(json.dumps(metadata) + "\n", encoding="utf-8")
            if path.is_symlink() or path.is_file():
                path.unlink()
            try:
                os.rename(partial, path)
            except OSError as error:
                if error.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not path.is_dir():
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    def encode(
        self,
        model,
        texts: list,
        fingerprint: Optional[str] = None,
        batch_size: int = 32,
        show_progress_bar: bool = False,
        **template_fields,
    ) -> torch.Tensor:
        """The embeddings of `texts` from the cache, else from `model.encode` (then saved). `template_fields`
        (`kind`, `labels`, `description`: `model.tokenize`) choose and fill the template, which is keyed with the
        texts unless it is the model's node template with no graph field (the key of entries from before)."""
        config = model.config
        kind = template_fields.get("kind", "node")
        template = getattr(config.templates, kind)
        filled = fill_template(template, template_fields.get("labels"), template_fields.get("description"))
        own = template == config.template and filled == fill_template(template, [], "")
        path = self.path(fingerprint or model_fingerprint(model), texts, None if own else filled)
        embeds = self.load(path, len(texts), model.lm.config.hidden_size)
        if embeds is not None:
            return embeds
        embeds = encode_sharded(model, texts, batch_size, show_progress_bar, **template_fields)
        state = process_state()
        if state.is_main_process:
            try:
                self.save(path, embeds)
            except OSError as error:
                logger.warning(f"Cannot write the embedding cache at {self.root} ({error}); continuing without it.")
        state.wait_for_everyone()
        return embeds
