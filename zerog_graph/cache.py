"""Embedding cache: one vector per text, in Arrow shards (the format of `datasets`), keyed by what made it.

The cache of a model is the folder `<root>/<model fingerprint>/`. Each row of a shard holds a text's key (a hash of
the model fingerprint, the filled template and the text: `text_keys`) and its float32 embedding; the shard's schema
records the fingerprint, its shape and the sha256 of its rows. Encoding writes a shard every `shard_rows` texts or
`shard_seconds` seconds, to a partial file renamed into place: a run that is killed keeps every finished shard, and
the next run encodes only the texts that no shard holds (so does a graph with a few texts edited or added). A shard
is checked when a lookup first reads from it (schema, fingerprint, checksum) and removed if it fails; reading
memory-maps it (`ShardRows`), so that classifying a graph never loads its embeddings whole. A cache that cannot be
written is skipped with a warning.
"""

import hashlib
import json
import logging
import os
import socket
import stat
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from configuration_zerog import filled_template
from propagation_zerog import EmbeddingRows
from tokenization_zerog import TOKENIZE_WINDOW

from .distributed import encode_sharded, process_state
from .paths import cache_dir, published, remove_entry
from .precision import INT8_SCHEME, precision_of

logger = logging.getLogger(__name__)

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
    """`TOKENIZE_VERSION` of the code that tokenizes for `model` (`ZeroGModel.tokenize_version`): a remote-code folder
    runs its own copy of the code; one that predates the attribute has the constant in its `modeling_zerog.py`, or
    none (None)."""
    version = getattr(type(model), "tokenize_version", None)
    return (
        version if version is not None else getattr(sys.modules.get(type(model).__module__), "TOKENIZE_VERSION", None)
    )


WEIGHTS_HASHES = "weights-sha256.json"  # in the cache folder: the hashes of local weights files, by file identity
MAX_WEIGHTS_HASHES_BYTES = 16 * 2**20  # about 150,000 files' hashes
_weights_hashes = {}


def read_small_file(path: Path, limit: int) -> Optional[bytes]:
    """The bytes of `path` when it is a regular file (not a symlink, FIFO, device or socket, which may never end or
    block on opening) of at most `limit` bytes; else None."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(handle, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        data = f.read(limit + 1)
    return data if len(data) <= limit else None


def stored_weights_hashes(path: Path) -> dict:
    """The hashes kept in `path` (`WEIGHTS_HASHES`): a JSON object of strings, read only from a regular file of at
    most `MAX_WEIGHTS_HASHES_BYTES`; anything else counts as no hashes (they are computed again)."""
    data = read_small_file(path, MAX_WEIGHTS_HASHES_BYTES)
    try:
        stored = json.loads(data) if data is not None else {}
    except ValueError:
        return {}
    if not isinstance(stored, dict):
        return {}
    return {key: value for key, value in stored.items() if isinstance(value, str)}


def weights_fingerprint(path: Path) -> str:
    """The sha256 of a weights file's whole content: another checkpoint copied over it, even with the same size and
    time (`cp -p`, `rsync -a`), changes it. A file is hashed once: the hash is kept, in this process and in
    `$ZEROG_CACHE/weights-sha256.json`, by the file's device, inode, size and modification and change times (no
    copy keeps the change time)."""
    stat = path.stat()
    identity = f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}:{path.resolve()}"
    if identity not in _weights_hashes:
        stored = cache_dir() / WEIGHTS_HASHES
        _weights_hashes.update(stored_weights_hashes(stored))
    if identity not in _weights_hashes:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(2**24):
                digest.update(block)
        _weights_hashes[identity] = digest.hexdigest()[:20]
        try:  # kept for the next run; a cache that cannot be written only costs the next run a hash
            stored.parent.mkdir(parents=True, exist_ok=True)
            with published(stored, partial=stored.with_name(partial_name(WEIGHTS_HASHES))) as temp:
                temp.write_text(json.dumps(_weights_hashes), encoding="utf-8")
        except OSError:
            pass
    return _weights_hashes[identity]


def model_fingerprint(model) -> str:
    """A hash of what decides a model's embeddings: backbone and revision (or the local weights' content,
    `weights_fingerprint`), tokenizer and `tokenize_texts` version, pooling, template, max length, precision
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
        for weights in sorted([*local.glob("*.safetensors"), *local.glob("*.bin")]):
            digest.update(f"{weights.name}:{weights_fingerprint(weights)}".encode())
    for name, param in sorted(model.lm.named_parameters()):
        if "lora_" in name:
            digest.update(name.encode())
            digest.update(param.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:20]


# A partial file is named `<shard>.partial-<host>-<pid>-<random>`: a process judges only its own host's partials by
# their pid; another host's (a cache on a shared file system) only by age.
HOST = socket.gethostname().replace("-", "_")[:64] or "host"
STALE_PARTIAL_SECONDS = 24 * 3600


def partial_name(name: str) -> str:
    return f"{name}.partial-{HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def remove_stale_partials(folder: Path):
    """Partial files in `folder` left by processes that no longer run (killed while writing a shard): on this host,
    those whose process is gone; from another host, those older than a day. One that cannot be removed stays."""
    for partial in folder.glob("*.partial-*"):
        host, pid = (partial.name.rsplit(".partial-", 1)[1].split("-") + ["", ""])[:2]
        try:
            if host != HOST:
                if time.time() - partial.lstat().st_mtime > STALE_PARTIAL_SECONDS:
                    remove_entry(partial)
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            try:
                remove_entry(partial)
            except OSError:
                pass
        except (ValueError, OSError):  # not ours to judge, alive under another user, or gone meanwhile
            pass


KEY_BYTES = 16
SHARD_SCHEMA_KEY = b"zerog"


def text_keys(fingerprint: str, template, texts: list) -> np.ndarray:
    """`[N]` keys (`KEY_BYTES` bytes each) of `texts` for a model and a filled template: the first bytes of the
    sha256 of the three, so that a row read back says what it was computed from."""
    prefix = hashlib.sha256(stable_json({"model": fingerprint, "template": template}).encode())
    keys = bytearray()
    for i, text in enumerate(texts):
        digest = prefix.copy()
        try:
            digest.update(text.encode("utf-8"))
        except (UnicodeEncodeError, AttributeError):
            raise ValueError(f"texts[{i}] is not a valid Unicode string ({type(text).__name__})") from None
        keys += digest.digest()[:KEY_BYTES]
    return np.frombuffer(bytes(keys), dtype=f"V{KEY_BYTES}")


def key_array(keys: np.ndarray):
    """`keys` as an Arrow array of fixed-size binaries, without a copy."""
    import pyarrow as pa

    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(KEY_BYTES), len(keys), [None, pa.py_buffer(keys)])


def first_positions(keys: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """For each key, the position of its first occurrence in `stored`, or -1 (a hash join, in Arrow)."""
    import pyarrow.compute as pc

    position = pc.index_in(key_array(keys), value_set=key_array(stored)).fill_null(-1)
    return position.to_numpy(zero_copy_only=False).astype(np.int64)


def rows_checksum(keys: np.ndarray, embeds: np.ndarray) -> str:
    """sha256 of a shard's keys and float32 embeddings."""
    digest = hashlib.sha256(keys.tobytes())
    digest.update(np.ascontiguousarray(embeds, dtype=np.float32).tobytes())
    return digest.hexdigest()


def write_shard(folder: Path, fingerprint: str, keys: np.ndarray, embeds: np.ndarray) -> Path:
    """Writes one shard (an Arrow stream file that `datasets.Dataset.from_file` reads) to a partial file, then
    renames it into place."""
    import pyarrow as pa

    width = embeds.shape[1]
    metadata = {"fingerprint": fingerprint, "rows": len(keys), "width": width, "sha256": rows_checksum(keys, embeds)}
    values = pa.array(np.ascontiguousarray(embeds, dtype=np.float32).reshape(-1))
    table = pa.table({"key": key_array(keys), "embedding": pa.FixedSizeListArray.from_arrays(values, width)})
    table = table.replace_schema_metadata({SHARD_SCHEMA_KEY: json.dumps(metadata)})
    name = f"shard-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.arrow"
    with published(folder / name, partial=folder / partial_name(name)) as partial:
        with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    return folder / name


_verified_shards = set()  # `Shard.identity` of the shards this process has checked


class Shard:
    """One shard, memory-mapped: `keys` (`[n]`) and `embeds` (`[n, H]` float32, read-only numpy views)."""

    def __init__(self, path: Path, fingerprint: str, width: int):
        import pyarrow as pa

        self.path = path
        if path.is_symlink() or not path.is_file():
            raise ValueError("not a regular file")
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_stream(source).read_all()
        metadata = json.loads((table.schema.metadata or {})[SHARD_SCHEMA_KEY])
        if metadata["fingerprint"] != fingerprint:
            raise ValueError(f"computed by model {metadata['fingerprint']}, not {fingerprint}")
        expected = pa.schema([("key", pa.binary(KEY_BYTES)), ("embedding", pa.list_(pa.float32(), width))])
        if not table.schema.remove_metadata().equals(expected):
            raise ValueError(f"schema {table.schema.remove_metadata()}, expected {expected}")
        nulls = table.column("key").null_count + table.column("embedding").null_count
        if metadata["rows"] != table.num_rows or nulls:
            raise ValueError(f"{table.num_rows} rows ({nulls} null), expected {metadata['rows']}")
        keys, embeds = table.column("key").combine_chunks(), table.column("embedding").combine_chunks()
        self.keys = np.frombuffer(keys.buffers()[1], dtype=f"V{KEY_BYTES}", count=len(keys), offset=keys.offset * 16)
        self.embeds = embeds.flatten().to_numpy(zero_copy_only=True).reshape(-1, width)
        if len(self.embeds) != len(self.keys):
            raise ValueError(f"{len(self.embeds)} embeddings for {len(self.keys)} keys")
        self.checksum = metadata["sha256"]
        stat = path.stat()
        self.identity = (str(path), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)

    def verify(self):
        """Checks the rows against the checksum and for finite values, once per process and file."""
        if self.identity not in _verified_shards:
            if rows_checksum(self.keys, self.embeds) != self.checksum:
                raise ValueError("checksum mismatch")
            if not np.isfinite(self.embeds).all():
                raise ValueError("non-finite values")
            _verified_shards.add(self.identity)


class ShardRows:
    """A graph's embeddings read from memory-mapped shards: row `i` is row `row_of[i]` of shard `shard_of[i]`.
    `modeling_zerog.EmbeddingRows`' two methods, so that `zerog_logits` and `collapse` read them a chunk at a time."""

    def __init__(self, shards: list, shard_of: np.ndarray, row_of: np.ndarray, width: int, chunk_size: int = 65536):
        self.shards, self.shard_of, self.row_of = shards, shard_of, row_of
        self.width, self.chunk_size = width, chunk_size
        self.by_column = None  # `column_file`, once a block of columns is asked for
        order = np.argsort(shard_of, kind="stable")
        bounds = np.searchsorted(shard_of[order], np.arange(len(shards) + 1))
        self.members = [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]  # rows of the graph, per shard

    @property
    def shape(self) -> torch.Size:
        return torch.Size([len(self.shard_of), self.width])

    def chunks(self):
        """`(rows, embeds[rows])`, shard by shard."""
        for shard, members in zip(self.shards, self.members):
            for start in range(0, len(members), self.chunk_size):
                rows = members[start : start + self.chunk_size]
                yield torch.from_numpy(rows), torch.from_numpy(shard.embeds[self.row_of[rows]])

    def columns(self, start: int, stop: int) -> torch.Tensor:
        """`[N, stop - start]`: columns `start:stop` of every row. Blocks narrower than a row are read from a
        temporary copy of the rows stored column by column (`column_file`, written at the first such call), so that
        each block reads its own columns only, not every row again."""
        if stop - start == self.width:
            out = torch.empty(len(self.shard_of), self.width)
            for rows, part in self.chunks():
                out[rows] = part
            return out
        if self.by_column is None:
            self.by_column = self.column_file()
        num_rows = len(self.shard_of)
        block = os.pread(self.by_column.fileno(), (stop - start) * num_rows * 4, start * num_rows * 4)
        return torch.from_numpy(np.frombuffer(block, dtype=np.float32).reshape(stop - start, num_rows).copy()).T

    def column_file(self):
        """The rows written column by column (`[H, N]` float32) to an unnamed temporary file beside the shards, in
        one pass over slices of about 64 MB."""
        num_rows, width = len(self.shard_of), self.width
        column_file = tempfile.TemporaryFile(dir=self.shards[0].path.parent if self.shards else None)
        step = max(1, 2**24 // width)
        for start in range(0, num_rows, step):
            shard_of, row_of = self.shard_of[start : start + step], self.row_of[start : start + step]
            part = np.empty((len(shard_of), width), dtype=np.float32)
            for index in np.unique(shard_of):
                chosen = shard_of == index
                part[chosen] = self.shards[index].embeds[row_of[chosen]]
            for column, values in enumerate(np.ascontiguousarray(part.T)):
                os.pwrite(column_file.fileno(), values.tobytes(), (column * num_rows + start) * 4)
        return column_file

    def tensor(self) -> torch.Tensor:
        """All rows, `[N, H]`, in memory."""
        return self.columns(0, self.width)


class ShardWriter:
    """Collects embeddings and writes a shard every `shard_rows` rows or `shard_seconds` seconds."""

    def __init__(self, folder: Path, fingerprint: str, shard_rows: int, shard_seconds: float):
        self.folder, self.fingerprint = folder, fingerprint
        self.shard_rows, self.shard_seconds = shard_rows, shard_seconds
        self.keys, self.embeds, self.started = [], [], time.monotonic()

    def add(self, keys: np.ndarray, embeds: torch.Tensor, boundary: bool = True):
        """Adds rows; writes a shard at a `boundary` once it holds `shard_rows` rows or `shard_seconds` passed."""
        self.keys.append(keys)
        self.embeds.append(embeds.numpy())
        full = sum(map(len, self.keys)) >= self.shard_rows or time.monotonic() - self.started >= self.shard_seconds
        if boundary and full:
            self.flush()

    def flush(self):
        if self.keys:
            write_shard(self.folder, self.fingerprint, np.concatenate(self.keys), np.concatenate(self.embeds))
        self.keys, self.embeds, self.started = [], [], time.monotonic()


class EmbeddingCache:
    """Looks up or computes the embeddings of texts for a model, one row per distinct text.

    Args:
        root (Path, optional): the cache folder (default: `<ZEROG_CACHE>/embeddings`).
        shard_rows (int): texts per shard at most (default: `16384`).
        shard_seconds (float): seconds of encoding per shard at most (default: `60`): what a killed run loses.
    """

    def __init__(self, root: Optional[Path] = None, shard_rows: int = 16384, shard_seconds: float = 60.0):
        self.root = Path(root) if root else cache_dir() / "embeddings"
        self.shard_rows, self.shard_seconds = shard_rows, shard_seconds
        self.opened = {}  # path -> Shard, kept between lookups
        self.skipped = set()  # damaged shards that could not be removed (a read-only cache)
        self.warned = set()  # folders whose other writers were warned about

    def warn_other_writers(self, folder: Path):
        """Warns, once per folder, where the cache or a shard can be written by another account (its owner, or a
        group other than the user's own, or everyone): a shard's checksum is only a check of damage, so whoever can
        write the cache decides the results read from it (docs/safety.md)."""
        if folder in self.warned or not hasattr(os, "getuid"):
            return
        self.warned.add(folder)
        for path in [self.root, folder, *sorted(folder.glob("shard-*.arrow"))]:
            try:
                info = path.lstat()
            except OSError:
                continue
            if info.st_uid != os.getuid():
                who = f"owned by another account (uid {info.st_uid})"
            elif info.st_mode & stat.S_IWOTH or (info.st_mode & stat.S_IWGRP and info.st_gid != os.getgid()):
                who = f"writable by {'every account' if info.st_mode & stat.S_IWOTH else f'group {info.st_gid}'}"
            else:
                continue
            logger.warning(
                f"Embedding cache {path} is {who}: whoever can write the cache decides the embeddings read from it; "
                "share a cache only with accounts trusted with the results (docs/safety.md)."
            )
            return

    def shards(self, folder: Path, fingerprint: str, width: int) -> list:
        """The folder's shards, opened (damaged ones removed with a warning); stale partial files are removed."""
        if not folder.is_dir():
            return []
        remove_stale_partials(folder)
        self.warn_other_writers(folder)
        shards = []
        for path in sorted(folder.glob("shard-*.arrow")):
            if path in self.skipped:
                continue
            if path not in self.opened:
                try:
                    self.opened[path] = Shard(path, fingerprint, width)
                except PermissionError as error:  # another user's shard: not damaged, not ours to remove
                    logger.warning(f"Embedding cache shard {path} cannot be read ({error.strerror}); skipping it.")
                    self.skipped.add(path)
                    continue
                except Exception as error:  # a truncated or foreign shard is removed, never trusted
                    self.discard(path, error)
                    continue
            shards.append(self.opened[path])
        return shards

    def discard(self, path: Path, error: Exception):
        logger.warning(f"Embedding cache shard {path} is damaged ({error}); removing it.")
        self.opened.pop(path, None)
        try:
            remove_entry(path)
        except OSError as failure:  # a read-only cache: the shard stays, and is skipped
            logger.warning(f"Cannot remove {path} ({failure.strerror}); skipping it.")
            self.skipped.add(path)

    def lookup(self, folder: Path, fingerprint: str, width: int, keys: np.ndarray):
        """`(shards, shard_of, row_of)`: where each key's row is (`shard_of` -1 where none holds it). The shards
        that a key is read from are verified first; a failed one is removed and the lookup repeated."""
        while True:
            shards = self.shards(folder, fingerprint, width)
            if not shards:
                return [], np.full(len(keys), -1, dtype=np.int64), np.zeros(len(keys), dtype=np.int64)
            position = first_positions(keys, np.concatenate([shard.keys for shard in shards]))
            found = position >= 0
            starts = np.cumsum([0] + [len(shard.keys) for shard in shards])
            shard_of = np.where(found, np.searchsorted(starts, position, side="right") - 1, -1)
            try:
                for index in np.unique(shard_of[found]):
                    shards[index].verify()
            except ValueError as error:
                self.discard(shards[index].path, error)
                continue
            return shards, shard_of, np.where(found, position - starts[np.maximum(shard_of, 0)], 0)

    def rows(
        self,
        model,
        texts: list,
        fingerprint: Optional[str] = None,
        batch_size: int = 32,
        show_progress_bar: bool = False,
        **template_fields,
    ):
        """The embeddings of `texts` as `ShardRows`: read from the shards that hold them, the others encoded first
        (split across the processes of `accelerate launch`, each writing its own shards). `template_fields` (`kind`,
        `labels`, `description`: `model.tokenize`) choose and fill the template, which is part of each key."""
        fingerprint = fingerprint or model_fingerprint(model)
        template = filled_template(
            model.config.templates,
            template_fields.get("kind", "node"),
            template_fields.get("labels"),
            template_fields.get("description"),
        )
        folder, width = self.root / fingerprint, model.lm.config.hidden_size
        keys = text_keys(fingerprint, template, texts)
        state = process_state()
        shards, shard_of, row_of = [], np.full(len(keys), -1, dtype=np.int64), np.zeros(len(keys), dtype=np.int64)
        try:
            if folder.is_symlink() or folder.exists() and not folder.is_dir():
                logger.warning(f"{folder} is a link or a file, not a cache folder; replacing it (never followed).")
                remove_entry(folder)
            state.wait_for_everyone()  # every process looks up before any writes: they split one list of texts
            shards, shard_of, row_of = self.lookup(folder, fingerprint, width, keys)
            state.wait_for_everyone()
            if (shard_of >= 0).all():
                return ShardRows(shards, shard_of, row_of, width)
            folder.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=folder).close()  # a read-only cache is found before anything is encoded
            self.fill(model, folder, fingerprint, texts, keys, shard_of < 0, batch_size, show_progress_bar, template)
        except OSError as error:
            if state.num_processes > 1:  # one process alone cannot leave the others: stop them all
                raise OSError(f"Cannot use the embedding cache at {self.root} ({error})") from None
            logger.warning(f"Cannot write the embedding cache at {self.root} ({error}); continuing without it.")
            return self.complete(
                model, texts, shards, shard_of, row_of, batch_size, show_progress_bar, template_fields
            )
        shards, shard_of, row_of = self.lookup(folder, fingerprint, width, keys)
        if (shard_of < 0).any():
            raise ValueError(
                f"{folder}: {int((shard_of < 0).sum())} encoded texts are missing from the cache: on several "
                "machines, every process needs the same cache folder (ZEROG_CACHE on a shared file system)"
            )
        return ShardRows(shards, shard_of, row_of, width)

    def complete(self, model, texts, shards, shard_of, row_of, batch_size, show_progress_bar, template_fields):
        """The embeddings of `texts` from the shards that hold them, the other texts encoded (a cache that cannot be
        written: what it holds is still used)."""
        missing = np.flatnonzero(shard_of < 0)
        if len(missing) == len(texts):
            return EmbeddingRows(encode_sharded(model, texts, batch_size, show_progress_bar, **template_fields))
        found = np.flatnonzero(shard_of >= 0)
        embeds = torch.empty(len(texts), model.lm.config.hidden_size)
        embeds[torch.from_numpy(found)] = ShardRows(shards, shard_of[found], row_of[found], embeds.shape[1]).tensor()
        if len(missing):
            encoded = encode_sharded(
                model, [texts[i] for i in missing], batch_size, show_progress_bar, **template_fields
            )
            embeds[torch.from_numpy(missing)] = encoded
        return EmbeddingRows(embeds)

    def fill(self, model, folder, fingerprint, texts, keys, missing, batch_size, show_progress_bar, template):
        """Encodes the distinct texts whose keys are `missing` into new shards (`model.encode_batches`, with the
        filled `template` of their keys). With several processes, each takes its share of the batches and writes its
        own shards. Shards end at tokenizing windows, so a resumed run batches as before."""
        todo = np.flatnonzero(missing)
        todo = todo[first_positions(keys[todo], keys[todo]) == np.arange(len(todo))]  # each text once, in order
        state = process_state()
        writer = ShardWriter(folder, fingerprint, self.shard_rows, self.shard_seconds)
        progress = None
        if show_progress_bar and state.is_main_process:
            from transformers.utils import logging as hf_logging

            distinct = int((first_positions(keys, keys) == np.arange(len(keys))).sum())
            progress = hf_logging.tqdm(total=distinct, initial=distinct - len(todo), desc="encode", unit="text")
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                # whole windows between shards: a resumed run starts at a window, so its batches are the same
                window = max(1, min(TOKENIZE_WINDOW, self.shard_rows // batch_size))
                share = (state.process_index, state.num_processes)
                batches = model.encode_batches([texts[i] for i in todo], batch_size, None, template, window, share)
                done = 0
                for rows, embeds in batches:
                    done += len(rows)
                    writer.add(keys[todo[rows.numpy()]], embeds, done % (window * batch_size) == 0)
                    if progress is not None:  # the others' batches are as many, give or take one
                        progress.update(min(len(embeds) * state.num_processes, progress.total - progress.n))
            writer.flush()
        finally:
            model.train(was_training)
            if progress is not None:
                progress.close()
        state.wait_for_everyone()

    def encode(self, model, texts: list, *args, **kwargs) -> torch.Tensor:
        """`rows(model, texts, ...)` as one `[len(texts), H]` tensor."""
        return self.rows(model, texts, *args, **kwargs).tensor()
