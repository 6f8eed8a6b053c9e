"""ZeroG: zero-shot node classification on text-attributed graphs with any text backbone.

Data flow: texts -> backbone -> pooling -> (prompt node + propagation) -> cosine scores -> loss.
This file travels to the Hub with a published model, so it imports only torch, transformers
and peft.
"""

import importlib.util
import json
import logging as std_logging
import os
import re
import warnings
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForTextEncoding,
    AutoTokenizer,
    BatchEncoding,
    BitsAndBytesConfig,
    PreTrainedModel,
)
from transformers.dynamic_module_utils import custom_object_save
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
    MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    MODEL_FOR_TEXT_ENCODING_MAPPING_NAMES,
)
from transformers.utils import ModelOutput, cached_file, logging
from transformers.utils.hub import hf_api

try:
    from .checks_zerog import (
        check_class_names,
        check_device,
        check_edge_index,
        check_finite,
        check_flag,
        check_label_texts,
        check_not_all_blank,
        check_positive_int,
        check_texts,
        edge_index_from,
        loading_options,
        refuse_unknown_kwargs,
        sentence_transformers_options,
    )
    from .configuration_zerog import (
        AUTO_ROUNDS,
        AUTO_ROUNDS_COLLAPSE,
        AUTO_ROUNDS_TOLERANCE,
        DEFAULT_LORA_RANK,
        LABEL_STATISTICS,
        MAX_LAYERS,
        MAX_LORA_R,
        POOLING,
        SUBGRAPH_ROUNDS,
        ZEROG_ROUNDS,
        ZeroGConfig,
        check_num_rounds,
        filled_template,
    )
except ImportError:  # imported as a top-level module rather than as Hub remote code
    from checks_zerog import (
        check_class_names,
        check_device,
        check_edge_index,
        check_finite,
        check_flag,
        check_label_texts,
        check_not_all_blank,
        check_positive_int,
        check_texts,
        edge_index_from,
        loading_options,
        refuse_unknown_kwargs,
        sentence_transformers_options,
    )
    from configuration_zerog import (
        AUTO_ROUNDS,
        AUTO_ROUNDS_COLLAPSE,
        AUTO_ROUNDS_TOLERANCE,
        DEFAULT_LORA_RANK,
        LABEL_STATISTICS,
        MAX_LAYERS,
        MAX_LORA_R,
        POOLING,
        SUBGRAPH_ROUNDS,
        ZEROG_ROUNDS,
        ZeroGConfig,
        check_num_rounds,
        filled_template,
    )

# Under transformers' logger (also as remote code, where this module is `transformers_modules.<repo>...`), so
# that `TRANSFORMERS_VERBOSITY` and `transformers.logging.set_verbosity_*` decide what is shown.
logger = logging.get_logger("transformers.modeling_zerog")

# Only the architectures where ZeroG's targets differ from peft's own mapping, which serves every other one
# (llama: q_proj, v_proj; bert, roberta: query, value; t5: q, v; ...). Rows by `architecture_name`.
ATTENTION_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj"]
LORA_TARGET_MODULES = {
    # The newer decoders get all four attention projections, where peft takes q_proj and v_proj only. LLaMA 3
    # has no model_type of its own, so peft's mapping would give it LLaMA 2's row.
    "llama3": ATTENTION_PROJECTIONS,
    "mistral": ATTENTION_PROJECTIONS,
    "qwen2": ATTENTION_PROJECTIONS,
    "qwen3": ATTENTION_PROJECTIONS,
    "distilbert": ["q_lin", "v_lin"],  # peft's mapping has no distilbert row
}
LLAMA3_VOCAB_SIZE = 128256
# Out of scope, refused with the reason: mixture-of-experts and multimodal backbones.
MOE_MODEL_TYPES = ("mixtral", "deepseek_v2", "deepseek_v3", "dbrx", "jetmoe", "llama4", "gpt_oss")
EXPERT_COUNT_FIELDS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")
MULTIMODAL_CONFIG_FIELDS = ("vision_config", "audio_config", "speech_config")
# Options of the Hub download that a ZeroG repository's files (config, adapter, tokenizer) load with.
HUB_KWARGS = ("revision", "token", "cache_dir", "local_files_only")
# What `AutoModel.from_pretrained` adds to a remote-code model's `from_pretrained` keywords: read (the Hub options
# above) or, here, ignored: ZeroG's adapter and code load with the repository's own options.
AUTO_MODEL_KWARGS = ("_from_auto", "trust_remote_code", "adapter_kwargs", "code_revision")
# Download options that AutoModel passes with these defaults; another value is refused (ZeroG does not apply it).
UNSUPPORTED_HUB_KWARGS = {"force_download": False, "proxies": None, "subfolder": ""}
# transformers' `save_pretrained` keywords about the model's weights: a ZeroG folder holds none of the backbone's
# (the adapter is always safetensors), so they change nothing here; the Trainer passes `state_dict`.
WEIGHTS_SAVE_KWARGS = ("state_dict", "max_shard_size", "variant", "save_peft_format", "save_original_format")
# `save_pretrained(..., push_to_hub=True)`: the upload's options, as transformers' own `save_pretrained` takes them.
PUSH_KWARGS = ("repo_id", "private", "commit_message", "commit_description", "create_pr")
# A backbone config asking for more than MAX_LAYERS layers is refused before any weight is allocated.
LAYER_COUNT_FIELDS = ("num_hidden_layers", "num_layers", "n_layer", "num_decoder_layers")
# Texts are cut to this many characters per token of `max_length` before tokenising, so that a long text costs
# memory in proportion to what is kept. Tokens average 3 to 5 characters: the cut never reaches kept tokens.
CHARS_PER_TOKEN = 64
# The LoRA adapter's folder inside a ZeroG repository. Not the root: `AutoModel.from_pretrained` on a Hub
# repository whose root holds `adapter_config.json` loads the adapter's base model instead of this code.
ADAPTER_SUBFOLDER = "adapter"
# sentence-transformers' pooling modes that ZeroG implements, by their name there (`POOLING`); and the older flags.
ST_POOLING_MODES = {st_name: mode for mode, (_, st_name) in POOLING.items() if st_name}
ST_LEGACY_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
SKIPPED_MODULE_NOTES = {
    "Normalize": "harmless for a cosine score, but propagation and standardisation see unnormalised vectors "
    "(as in ZeroG).",
    "Dense": "embeddings are the pooled backbone states, not the checkpoint's projected ones.",
}
# Skipped modules that change no prediction: said at info level (TRANSFORMERS_VERBOSITY=info), not as a warning.
HARMLESS_SKIPPED_MODULES = ("Normalize",)


# ---------------------------------------------------------------------------------------------
# Backbone helpers
# ---------------------------------------------------------------------------------------------


def is_decoder_architecture(lm_config) -> bool:
    """Whether a backbone config is a decoder LLM, judged from its architecture.

    `config.is_decoder` is not used: it is missing or False on Llama-family configs.
    """
    if getattr(lm_config, "is_encoder_decoder", False):
        return False
    model_type = lm_config.model_type
    return model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def architecture_name(lm_config) -> str:
    """The row of `LORA_TARGET_MODULES` for a config: its model_type, or "llama3" for LLaMA 3."""
    if lm_config.model_type != "llama":
        return lm_config.model_type
    rope = getattr(lm_config, "rope_parameters", None) or getattr(lm_config, "rope_scaling", None) or {}
    if rope.get("rope_type") == "llama3" or lm_config.vocab_size == LLAMA3_VOCAB_SIZE:
        return "llama3"
    return "llama"


def check_backbone_in_scope(lm_config, name: str) -> None:
    """Refuses mixture-of-experts and multimodal backbones, saying why: both are out of scope."""
    experts = {field: getattr(lm_config, field, None) for field in EXPERT_COUNT_FIELDS}
    experts = {field: count for field, count in experts.items() if isinstance(count, int) and count > 1}
    model_type = lm_config.model_type
    if experts or model_type in MOE_MODEL_TYPES or "moe" in model_type:
        found = ", ".join(f"{field}={count}" for field, count in experts.items()) or f"model_type {model_type!r}"
        raise ValueError(
            f"Backbone {name!r} is a mixture-of-experts model ({found}): out of scope for ZeroG, whose LoRA "
            f"targets, memory figures and tests cover dense models only. Use a dense backbone."
        )
    towers = [field for field in MULTIMODAL_CONFIG_FIELDS if getattr(lm_config, field, None) is not None]
    if towers:
        raise ValueError(
            f"Backbone {name!r} ({model_type}) is multimodal (its config has {', '.join(towers)}): out of scope "
            f"for ZeroG, which embeds text only. Use a text-only backbone."
        )


def import_peft():
    """peft, imported where LoRA or quantisation is used: it imports bitsandbytes when installed, whose CPU
    backend (and the `kernels` package it asks) logs warnings about an optional kernel that only quantised
    layers could use. Both, and peft's use of a deprecated transformers property, are silenced."""
    for name in ("bitsandbytes.backends.cpu.ops", "kernels"):
        std_logging.getLogger(name).setLevel(std_logging.ERROR)
    # peft 0.21 reads transformers' deprecated `is_gradient_checkpointing` each time it wraps a model.
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    import peft

    return peft


def resolve_lora_targets(lm_config, user_targets=None) -> Union[list, str]:
    """LoRA targets: the user's choice, else the project's table, else peft's, else all-linear."""
    if user_targets:
        return user_targets
    name = architecture_name(lm_config)
    if name in LORA_TARGET_MODULES:
        return list(LORA_TARGET_MODULES[name])
    peft_mapping = import_peft().utils.TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
    if peft_targets := peft_mapping.get(lm_config.model_type):
        return list(peft_targets)
    logger.warning(f"No LoRA targets known for architecture {name!r}; using 'all-linear'.")
    return "all-linear"


def one_line(error: Exception, limit: int = 400) -> str:
    """An exception as one line for an error message: its type and text, whitespace collapsed, cut at `limit`."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def hub_file(name_or_path: str, filename: str, **hub_kwargs) -> Optional[str]:
    """The local path of a file of a folder or Hub repository, or None when it has none."""
    return cached_file(
        name_or_path,
        filename,
        _raise_exceptions_for_missing_entries=False,
        _raise_exceptions_for_connection_errors=False,
        **hub_kwargs,
    )


def unique_keys(pairs: list) -> dict:
    """A JSON object from its `(key, value)` pairs (`json`'s `object_pairs_hook`), refusing a key given twice:
    Python's `json` keeps the last one silently, so a second `labels` or config field would shadow the first."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"key {twice!r} is given twice in one object")
    return data


def read_hub_json(name_or_path: str, filename: str, expected_type: Optional[type] = None, **hub_kwargs):
    """A JSON file of a folder or Hub repository, or None when it has none; with `expected_type` (e.g. dict),
    a value of another type is a ValueError naming the file."""
    path = hub_file(name_or_path, filename, **hub_kwargs)
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f, object_pairs_hook=unique_keys)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError, a key given twice
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    except OSError as error:
        raise OSError(f"{path}: cannot be read ({error.strerror or error})") from None
    if expected_type is not None and not isinstance(value, expected_type):
        kind = "a JSON object" if expected_type is dict else f"JSON {expected_type.__name__}"
        raise ValueError(f"{path}: expected {kind}, got {type(value).__name__}")
    return value


def module_folder(modules_file: str, entry: dict) -> str:
    """The `path` of a modules.json entry, refused unless it is a plain relative folder of the checkpoint."""
    path = entry.get("path")
    parts = path.split("/") if isinstance(path, str) else []
    if not parts or any(part in ("", ".", "..") or "\\" in part or ":" in part for part in parts):
        raise ValueError(f"{modules_file}: module {entry.get('name')!r} has path {path!r}, not a relative folder")
    return path


def declared_modes(pooling: dict) -> list:
    """sentence-transformers' pooling modes in a Pooling config: `pooling_mode` (version 6 on), or the
    older `pooling_mode_*_token(s)` flags."""
    mode = pooling.get("pooling_mode")
    if mode is None:
        return [name for key, name in ST_LEGACY_POOLING_KEYS.items() if pooling.get(key) is True]
    return [mode] if isinstance(mode, str) else list(mode) if isinstance(mode, list) else [repr(mode)]


def declared_pooling(lm_name_or_path: str, **hub_kwargs) -> Optional[str]:
    """The pooling a sentence-transformers checkpoint declares, or None when it declares none.

    `modules.json` names the Pooling module's folder. Modules after it (Normalize, Dense) are not
    applied, with a warning saying so. A declared mode that ZeroG lacks (max, weightedmean, several
    at once) is an error: pass `pooling_mode` explicitly."""
    modules = read_hub_json(lm_name_or_path, "modules.json", **hub_kwargs)
    modules_file = f"{lm_name_or_path}/modules.json"
    if modules is None:
        return None
    if not isinstance(modules, list) or not all(isinstance(entry, dict) for entry in modules):
        raise ValueError(f"{modules_file}: expected a list of module objects")
    kinds = [str(entry.get("type", "")).rsplit(".", 1)[-1] for entry in modules]
    if "Pooling" not in kinds:
        return None
    position = kinds.index("Pooling")
    pooling_file = f"{module_folder(modules_file, modules[position])}/config.json"
    pooling = read_hub_json(lm_name_or_path, pooling_file, dict, **hub_kwargs)
    if pooling is None:
        raise ValueError(f"{lm_name_or_path}/{pooling_file}: missing; {modules_file} names it")
    modes = declared_modes(pooling)
    if len(modes) != 1 or modes[0] not in ST_POOLING_MODES:
        raise ValueError(
            f"{lm_name_or_path}/{pooling_file} declares pooling {modes}, which ZeroG does not implement; "
            f"pass pooling_mode, one of {ZeroGPooling.MODES}"
        )
    for entry, kind in zip(modules[position + 1 :], kinds[position + 1 :]):
        log = logger.info if kind in HARMLESS_SKIPPED_MODULES else logger.warning
        log(
            f"{modules_file}: module {entry.get('path')!r} ({kind}) after pooling is not applied; "
            + SKIPPED_MODULE_NOTES.get(kind, "embeddings are the pooled backbone states.")
        )
    return ST_POOLING_MODES[modes[0]]


def resolve_pooling(config: ZeroGConfig, is_decoder: bool, lm_path: Optional[str] = None, **lm_kwargs) -> str:
    """`config.pooling_mode` with "auto" resolved: last token for decoders, declared or CLS else."""
    if config.pooling_mode != "auto":
        return config.pooling_mode
    if is_decoder:
        return "last"
    return declared_pooling(lm_path or config.lm_name_or_path, **lm_kwargs) or "cls"


def backbone_hub_kwargs(config: ZeroGConfig, lm_path: Optional[str], hub_kwargs: dict) -> dict:
    """The download options of the backbone: the ZeroG repository's, with the backbone's own revision
    (none for a local copy)."""
    return {**hub_kwargs, "revision": None if lm_path else config.lm_revision}


# The JSON files of a tokenizer folder, checked before loading.
TOKENIZER_JSON_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")


def load_tokenizer(name_or_path: str, is_decoder: bool, lm_config=None, **hub_kwargs):
    """A tokenizer that pads with eos when it has no pad token, on the left for decoders.

    Never runs code from the folder or repository: no `trust_remote_code`, and with `lm_config` (the
    backbone's config) the folder's own config.json is not read, so a ZeroG folder's tokenizer is
    the backbone's tokenizer class."""
    if os.path.isdir(name_or_path):  # a damaged file is named, not met as a bare parse error inside tokenizers
        for filename in TOKENIZER_JSON_FILES:
            read_hub_json(name_or_path, filename)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            name_or_path, config=lm_config, trust_remote_code=False, **hub_kwargs
        )
    except (OSError, ValueError, ImportError):
        raise
    except Exception as error:  # tokenizers' own Exception for a tokenizer.json it cannot parse
        raise ValueError(f"{name_or_path}: the tokenizer cannot be loaded ({one_line(error)})") from None
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"The tokenizer of {name_or_path!r} has neither a pad nor an eos token.")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left" if is_decoder else "right"
    return tokenizer


def special_ids_around(tokenizer) -> tuple[list, list]:
    """The ids a tokenizer adds before and after a single text (e.g. BERT's [CLS] and [SEP]), read off a probe."""
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    start = next((i for i in range(len(full) - len(bare) + 1) if full[i : i + len(bare)] == bare), None)
    if start is None:
        raise ValueError(f"cannot tell the special tokens of {type(tokenizer).__name__} around a text: {full}")
    return full[:start], full[start + len(bare) :]


# The version of `tokenize_texts`' ids: raise it whenever a change gives any text different ids, so that
# embedding caches keyed on it (zerog_graph.cache) are not reused. 2: long texts cut as ids (templates kept).
# 3: texts first cut to `CHARS_PER_TOKEN * max_length` characters.
TOKENIZE_VERSION = 3


def tokenize_texts(tokenizer, texts: list, template=None, max_length: int = 512, padding=True):
    """Tokenize texts, each wrapped in `template`; truncation cuts the text, never the template.

    `template` is a format string with `{text}`, or its pieces around each `{text}` (`fill_template`'s tuple);
    with two slots (echo) the text fills both, each cut to half the room. A text that fits is tokenized with
    its template as one string. A longer one is cut as ids, with no decode and re-encode: the template's
    pieces and the text are tokenized apart, the text's ids cut to the room left, and all joined inside the
    tokenizer's special tokens. (Apart, a BPE tokenizer can split a boundary differently from the whole
    string, so texts that fit keep the one-string path.)

    A text that yields no token at all (an empty text, with a tokenizer that adds no special
    tokens) is encoded as the eos token, so that it still has a position to pool.

    Texts are first cut to `CHARS_PER_TOKEN * max_length` characters (from the end kept by the tokenizer's
    `truncation_side`), so that memory follows what is kept rather than the text's length."""
    chars, left = CHARS_PER_TOKEN * max_length, tokenizer.truncation_side == "left"
    texts = [text if len(text) <= chars else text[-chars:] if left else text[:chars] for text in texts]
    long, limit = set(), max_length
    if template is not None:
        pieces = template.split("{text}") if isinstance(template, str) else list(template)
        slots = len(pieces) - 1
        if slots not in (1, 2):
            raise ValueError(f"template {template!r} must hold {{text}} once or twice, not {slots} times")
        budget = (max_length - len(tokenizer("".join(pieces))["input_ids"])) // slots
        piece_ids = [tokenizer(piece, add_special_tokens=False)["input_ids"] for piece in pieces]
        head, tail = special_ids_around(tokenizer)
        room = (max_length - len(head) - sum(map(len, piece_ids)) - len(tail)) // slots
        if min(budget, room) < 1:
            shown = "{text}".join(pieces)
            shown = repr(shown) if len(shown) <= 200 else f"{shown[:200]!r}... ({len(shown):,} characters)"
            raise ValueError(f"max_length={max_length} leaves no room for text inside template {shown}")
        text_ids = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=max(budget, room))
        long = {i for i, ids in enumerate(text_ids["input_ids"]) if len(ids) >= budget}  # cut, or at the limit
        texts = ["" if i in long else text.join(pieces) for i, text in enumerate(texts)]
        limit = max_length + 1  # a string longer than max_length would lose the template's end: cut as ids too
    encoded = tokenizer(texts, truncation=True, max_length=limit)
    for i, ids in enumerate(encoded["input_ids"]):
        if i in long or len(ids) > max_length:
            text = text_ids["input_ids"][i]
            text = text[-room:] if tokenizer.truncation_side == "left" else text[:room]
            ids = head + piece_ids[0] + [token for piece in piece_ids[1:] for token in text + piece] + tail
            row = {"input_ids": ids, "attention_mask": [1] * len(ids), "token_type_ids": [0] * len(ids)}
            for key in encoded:
                encoded[key][i] = row[key]
    for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"]):
        if not ids:
            ids.append(tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.pad_token_id)
            mask.append(1)
    return pad_batch(encoded, tokenizer) if padding else encoded


# Batches tokenized in one call by `ZeroGModel.encode_batches`: enough texts for the fast tokenizer's threads, few
# enough that their ids stay small (64 batches of 32 texts of 512 tokens: 8 MB as lists of ints).
TOKENIZE_WINDOW = 64


def pad_batch(encoded, tokenizer) -> BatchEncoding:
    """`input_ids` and `attention_mask` of lists of ids as `[B, T]` tensors, padded on the tokenizer's side with its
    pad token: what `tokenizer.pad` gives for these two fields, without its per-item Python."""
    rows = encoded["input_ids"]
    width = max((len(row) for row in rows), default=0)
    input_ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    left = tokenizer.padding_side == "left"
    for i, row in enumerate(rows):
        columns = slice(width - len(row), width) if left else slice(0, len(row))
        input_ids[i, columns] = torch.tensor(row, dtype=torch.long)
        attention_mask[i, columns] = 1
    return BatchEncoding({"input_ids": input_ids, "attention_mask": attention_mask})


def load_backbone_config(path: str, **hub_kwargs):
    """The backbone's config, read without running code from its repository, and checked to be in scope."""
    try:
        lm_config = AutoConfig.from_pretrained(path, trust_remote_code=False, **hub_kwargs)
    except OSError as error:
        if os.path.isdir(path):
            raise OSError(f"Backbone folder {path!r} cannot be read: {error}") from None
        raise OSError(
            f"Backbone {path!r} is neither a local folder nor reachable on the Hub "
            f"(HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '0')}). Download it first, e.g. "
            f"`hf download {path}`, or pass a local folder."
        ) from error
    except ValueError as error:
        remote = "trust_remote_code" in str(
            error
        )  # transformers' text names a bogus https://hf.co//<path> for a folder
        reason = f"its config names code of its own ({path}/config.json auto_map)" if remote else one_line(error)
        raise ValueError(
            f"Backbone {path!r} cannot be loaded without running code from it, which never happens: {reason}"
        ) from None
    check_backbone_in_scope(lm_config, path)
    for field in LAYER_COUNT_FIELDS:
        layers = getattr(lm_config, field, None)
        if isinstance(layers, int) and layers > MAX_LAYERS:
            raise ValueError(f"Backbone {path!r}: {field}={layers} is over the limit of {MAX_LAYERS} layers; refused")
    return lm_config


def load_backbone(
    config: ZeroGConfig,
    lm_path: Optional[str] = None,
    adapter_path: Optional[str] = None,
    dtype: Optional[torch.dtype] = None,
    hub_kwargs: Optional[dict] = None,
):
    """Load the backbone from its own source, quantised if asked, with LoRA attached if asked.

    `hub_kwargs` (`HUB_KWARGS`) are the ZeroG repository's download options: the adapter loads with all
    of them, the backbone with all but `revision` (it has `config.lm_revision`). Weights load from
    safetensors only, and no code from either source runs. Without LoRA the backbone is frozen."""
    hub_kwargs = hub_kwargs or {}
    path = lm_path or config.lm_name_or_path
    lm_kwargs = backbone_hub_kwargs(config, lm_path, hub_kwargs)
    lm_config = load_backbone_config(path, **lm_kwargs)
    if os.path.isdir(path) and not any(name.endswith(".safetensors") for name in os.listdir(path)):
        raise OSError(
            f"Backbone folder {path!r} holds no .safetensors weights; pickled weights (pytorch_model.bin) are "
            f"never loaded. Convert them to safetensors first."
        )
    kwargs = {**lm_kwargs, "dtype": dtype or torch.float32, "use_safetensors": True, "trust_remote_code": False}
    if config.quantization is not None:
        if importlib.util.find_spec("bitsandbytes") is None:
            raise ImportError(f"quantization={config.quantization!r} needs bitsandbytes: pip install bitsandbytes")
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=config.quantization == "4bit",
            load_in_8bit=config.quantization == "8bit",
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        if torch.cuda.is_available():  # one process per GPU under DDP
            kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))}
    text_encoding = lm_config.model_type in MODEL_FOR_TEXT_ENCODING_MAPPING_NAMES  # T5 -> T5EncoderModel
    lm = (AutoModelForTextEncoding if text_encoding else AutoModel).from_pretrained(path, **kwargs)
    if config.quantization is not None:
        lm = import_peft().prepare_model_for_kbit_training(
            lm, use_gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    elif config.gradient_checkpointing:
        lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if not config.use_lora:
        return lm.requires_grad_(False)
    if adapter_path is not None:
        # Both files are fetched here, with the repository's options, and peft reads the local folder.
        weights = hub_file(adapter_path, f"{ADAPTER_SUBFOLDER}/adapter_model.safetensors", **hub_kwargs)
        adapter_config = hub_file(adapter_path, f"{ADAPTER_SUBFOLDER}/adapter_config.json", **hub_kwargs)
        if weights is None and hub_file(adapter_path, "adapter_model.safetensors", **hub_kwargs) is not None:
            raise OSError(
                f"{adapter_path}: the adapter is at the root, as ZeroG-HF saved it before the adapter/ folder; move "
                f"adapter_model.safetensors and adapter_config.json into {ADAPTER_SUBFOLDER}/ (at the root, "
                f"AutoModel loads the adapter's base model instead of ZeroG)."
            )
        if weights is None or adapter_config is None:
            raise OSError(
                f"{adapter_path}: no {ADAPTER_SUBFOLDER}/adapter_model.safetensors with its adapter_config.json. "
                f"A LoRA adapter loads from safetensors only, never from a pickle such as adapter_model.bin."
            )
        check_adapter_config(adapter_config)
        try:
            model = import_peft().PeftModel.from_pretrained(lm, os.path.dirname(weights), is_trainable=True)
        except Exception as error:  # e.g. a tensor of another shape than its adapter_config.json gives
            raise ValueError(f"{weights}: the adapter cannot be loaded ({one_line(error)})") from None
        check_adapter_fits(model, os.path.dirname(weights))
        return model
    is_decoder = config.lm_is_decoder if config.lm_is_decoder is not None else is_decoder_architecture(lm.config)
    peft = import_peft()
    lora_config = peft.LoraConfig(
        task_type=peft.TaskType.FEATURE_EXTRACTION,
        r=config.lora_r or DEFAULT_LORA_RANK["decoder" if is_decoder else "encoder"],
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=resolve_lora_targets(lm.config, config.lora_target_modules),
    )
    return peft.get_peft_model(lm, lora_config)


def check_hidden_layer(hidden_layer: int, lm_config, name: str) -> None:
    """Refuses a `hidden_layer` the backbone does not have (`hidden_states` holds layers + 1 entries)."""
    layers = next((getattr(lm_config, field) for field in LAYER_COUNT_FIELDS if hasattr(lm_config, field)), None)
    if isinstance(layers, int) and not -layers - 1 <= hidden_layer <= layers:
        raise ValueError(
            f"hidden_layer={hidden_layer}, but backbone {name!r} has {layers} layers: give one in [{-layers - 1}, "
            f"{layers}] (0: the token embeddings, -1: the last layer)"
        )


# An adapter config's module names, and the one regular-expression form accepted for `target_modules`: names, `.`,
# `|`, groups, anchors and at most four `.*` (no nested quantifier can make `re.fullmatch` take forever).
MODULE_NAME = re.compile(r"[\w.-]{1,200}")
SAFE_MODULE_REGEX = re.compile(r"(?:[\w|()^$-]|\\.|\.\*?)*")
MAX_REGEX_LENGTH, MAX_REGEX_WILDCARDS, MAX_MODULE_NAMES = 512, 4, 4096


def check_module_names(value, field_name: str, where: str) -> None:
    """`value` is None, a list of module names, or one `SAFE_MODULE_REGEX` (peft matches a string with
    `re.fullmatch` against every module name)."""
    if value is None or value == "all-linear":
        return
    if isinstance(value, list):
        bad = next((name for name in value if not (isinstance(name, str) and MODULE_NAME.fullmatch(name))), None)
        if bad is not None or len(value) > MAX_MODULE_NAMES:
            raise ValueError(
                f"{where}: {field_name} must list at most {MAX_MODULE_NAMES} module names; {bad!r} is not one"
            )
        return
    if not isinstance(value, str):
        raise ValueError(
            f"{where}: {field_name} must be a list of module names or a string, got {type(value).__name__}"
        )
    wildcards = value.count(".*")
    if len(value) > MAX_REGEX_LENGTH or wildcards > MAX_REGEX_WILDCARDS or not SAFE_MODULE_REGEX.fullmatch(value):
        raise ValueError(
            f"{where}: {field_name} {value[:80]!r} is not a list of module names nor a regular expression of the "
            f"accepted form (names, '.', '|', groups, anchors and at most {MAX_REGEX_WILDCARDS} '.*', "
            f"{MAX_REGEX_LENGTH} characters); refused before anything is built"
        )
    try:
        re.compile(value)
    except re.error as error:
        raise ValueError(f"{where}: {field_name} {value[:80]!r} is not a valid regular expression ({error})") from None


def check_rank(value, field_name: str, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LORA_R:
        raise ValueError(f"{where}: {field_name} must be an integer in [1, {MAX_LORA_R}], got {value!r}")


def check_adapter_config(path: str) -> dict:
    """Reads an adapter's `adapter_config.json` and refuses, before peft builds anything, what would make it
    allocate or compute without bound or build something else than a ZeroG LoRA: another adapter type or task,
    a rank over `MAX_LORA_R` (also in `rank_pattern`), `layer_replication` building over `MAX_LAYERS` layers,
    `target_modules` (or `exclude_modules`, pattern keys) other than module names or a bounded, safe regex."""
    config = read_hub_json(os.path.dirname(path), os.path.basename(path), dict)
    where = path
    if config.get("peft_type") != "LORA":
        raise ValueError(f"{where}: peft_type {config.get('peft_type')!r}; a ZeroG adapter is a LoRA adapter (LORA)")
    if config.get("task_type") not in (None, "FEATURE_EXTRACTION"):
        raise ValueError(f"{where}: task_type {config['task_type']!r}; a ZeroG adapter is FEATURE_EXTRACTION")
    check_rank(config.get("r"), "r", where)
    for field_name in ("target_modules", "exclude_modules", "modules_to_save"):
        check_module_names(config.get(field_name), field_name, where)
    for field_name in ("rank_pattern", "alpha_pattern"):
        pattern = config.get(field_name) or {}
        if not isinstance(pattern, dict) or len(pattern) > MAX_MODULE_NAMES:
            raise ValueError(f"{where}: {field_name} must be an object of at most {MAX_MODULE_NAMES} entries")
        for key, value in pattern.items():
            check_module_names(key, f"a {field_name} key", where)
            if field_name == "rank_pattern":
                check_rank(value, f"rank_pattern[{key!r}]", where)
    replication = config.get("layer_replication")
    if replication is not None:
        pairs = isinstance(replication, list) and all(
            isinstance(p, list) and len(p) == 2 and all(type(v) is int and v >= 0 for v in p) and p[0] < p[1]
            for p in replication
        )
        if not pairs or sum(end - start for start, end in replication) > MAX_LAYERS:
            raise ValueError(
                f"{where}: layer_replication must be [start, end] pairs building at most {MAX_LAYERS} layers in all, "
                f"got {str(replication)[:80]}"
            )
    return config


def check_adapter_fits(model, folder: str, adapter_name: str = "default") -> None:
    """Refuses an adapter file that does not fit the LoRA layers its config builds: every expected tensor present,
    none unexpected, shapes equal (peft only warns, and the missing layers keep their initial weights: the
    untrained backbone). A ValueError names the file and the first key at fault."""
    weights_file = os.path.join(folder, "adapter_model.safetensors")
    try:
        loaded = import_peft().utils.load_peft_weights(folder, device="cpu")
    except Exception as error:  # a truncated or damaged safetensors file
        raise ValueError(f"{weights_file}: cannot be read ({one_line(error)})") from None
    expected = import_peft().utils.get_peft_model_state_dict(  # no embedding layers: the vocabulary is never resized
        model, adapter_name=adapter_name, save_embedding_layers=False
    )
    missing = [key for key in expected if key not in loaded]
    unexpected = [key for key in loaded if key not in expected]
    shapes = [key for key in expected if key in loaded and loaded[key].shape != expected[key].shape]
    faults = [f"missing {key!r}" for key in missing] + [f"unexpected {key!r}" for key in unexpected]
    faults += [f"{key!r} of shape {tuple(loaded[key].shape)}, not {tuple(expected[key].shape)}" for key in shapes]
    if faults:
        raise ValueError(
            f"{weights_file}: the adapter does not fit its adapter_config.json and the backbone ({len(missing)} "
            f"missing, {len(unexpected)} unexpected, {len(shapes)} of another shape; first: {faults[0]}); refused"
        )


def saved_folder_backbone(folder: str, lm_name_or_path: str) -> Optional[str]:
    """The backbone folder of a saved ZeroG folder whose `lm_name_or_path` is relative to it (`.`, `..`, `./x`,
    `../x`: what a Hub id never is), or None; such a path is read against the folder, never the working one."""
    parts = lm_name_or_path.replace("\\", "/").split("/")
    if parts[0] not in (".", ".."):
        return None
    return os.path.normpath(os.path.join(folder, lm_name_or_path))


def portable_name(lm_name_or_path: str) -> str:
    """The backbone's name as a saved file may hold it: the Hub id or relative path unchanged, an absolute local
    path as its folder's name (an absolute path names the saving machine, and means nothing elsewhere)."""
    return os.path.basename(os.path.normpath(lm_name_or_path)) if os.path.isabs(lm_name_or_path) else lm_name_or_path


ADAPTER_README = """# LoRA adapter of a ZeroG model

The LoRA adapter (peft) of the ZeroG model in the folder above, on the backbone `{backbone}`.
It is not a model on its own: load the whole repository with
`AutoModel.from_pretrained(<repository>, trust_remote_code=True)`, which loads the backbone
from its own source and this adapter onto it.
"""


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------


class ZeroGPooling(nn.Module):
    """Pools token states into one vector per text, using the attention mask in every mode.

    `last` takes each row's last real token and `cls` its first, so both are right under left
    and right padding. `mean` averages the real tokens, summing in float32 whatever the compute
    dtype (as sentence-transformers does), and returns float32.
    """

    MODES = tuple(mode for mode in POOLING if mode != "auto")  # "auto" is resolved before (`resolve_pooling`)

    def __init__(self, pooling_mode: str):
        super().__init__()
        if pooling_mode not in self.MODES:
            raise ValueError(f"pooling_mode={pooling_mode!r} is not one of {self.MODES}")
        self.pooling_mode = pooling_mode

    def forward(self, token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return getattr(self, f"pool_{self.pooling_mode}")(token_embeddings, attention_mask)

    @staticmethod
    def pool_mean(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)  # 0 or 1: exact in any dtype
        total = (token_embeddings * mask).sum(1, dtype=torch.float32)
        return total / mask.sum(1, dtype=torch.float32).clamp(min=1e-9)

    @staticmethod
    def pool_last(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = token_positions(attention_mask)
        return take_rows(token_embeddings, positions.masked_fill(attention_mask == 0, -1).argmax(-1))

    @staticmethod
    def pool_cls(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = token_positions(attention_mask)
        return take_rows(token_embeddings, positions.masked_fill(attention_mask == 0, positions.size(1)).argmin(-1))


def token_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """`[B, T]`: each token's position in its row."""
    batch_size, seq_len = attention_mask.shape
    return torch.arange(seq_len, device=attention_mask.device).expand(batch_size, -1)


def take_rows(token_embeddings: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """`[B, H]`: the state at position `index[b]` of each row `b`."""
    rows = torch.arange(token_embeddings.size(0), device=token_embeddings.device)
    return token_embeddings[rows, index]


def length_order(texts: list) -> torch.Tensor:
    """Indices of `texts`, longest first by characters (a cheap stand-in for tokens), ties in their order: batches
    of similar length pad little, and an out-of-memory error comes at the first batch rather than the last."""
    lengths = torch.tensor([len(text) for text in texts], dtype=torch.long)
    return torch.sort(-lengths, stable=True).indices


# ---------------------------------------------------------------------------------------------
# Propagation (parameter-free) and scoring
# ---------------------------------------------------------------------------------------------


def add_prompt_nodes(edge_index: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    r"""Joins prompt node `N + g` to every node of graph `g`, in both directions.

    Args:
        edge_index (torch.Tensor): Edges among the `N` nodes, shape `[2, E]`.
        batch (torch.Tensor): Graph index of each node, shape `[N]`; graph `g` gets prompt node `N + g`.

    :rtype: :class:`torch.Tensor` of shape `[2, E + 2N]`.

    Examples:
        >>> add_prompt_nodes(torch.tensor([[0], [1]]), torch.tensor([0, 0, 0])).tolist()
        [[0, 0, 1, 2, 3, 3, 3], [1, 3, 3, 3, 0, 1, 2]]
    """
    num_nodes = batch.numel()
    nodes = torch.arange(num_nodes, device=edge_index.device)
    prompts = num_nodes + batch.to(edge_index.device)
    return torch.cat([edge_index, torch.stack([nodes, prompts]), torch.stack([prompts, nodes])], dim=1)


def edge_keys(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """`target * num_nodes + source` of each edge that is not a self-loop: its place in the adjacency, one int64 per
    edge (half an `edge_index`). As in PyG (`flow="source_to_target"`), an edge `[i, j]` makes its target `j`
    aggregate from its source `i`: row `j`, column `i`."""
    source, target = edge_index
    keep = source != target
    keys = target[keep] if not keep.all() else target.clone()
    return keys.mul_(num_nodes).add_(source[keep] if keep.numel() and not keep.all() else source)


def normalized_adjacency(
    edge_index: torch.Tensor, num_nodes: int, keys: Optional[torch.Tensor] = None
) -> torch.Tensor:
    r"""Sparse CSR :math:`\hat{D}^{-1/2}(A + I)\hat{D}^{-1/2}`; duplicate edges and self-loops count once. `keys`
    (`edge_keys`) may stand for `edge_index`: a graph of millions of edges is then never copied whole as pairs."""
    keys = edge_keys(edge_index, num_nodes) if keys is None else keys
    loops = torch.arange(num_nodes, device=keys.device) * (num_nodes + 1)
    keys = torch.unique(torch.cat([keys, loops]))  # sorted by row, then column; each edge once
    row = keys // num_nodes
    degree = torch.bincount(row, minlength=num_nodes)  # >= 1 everywhere (the self-loop)
    inv_sqrt = degree.float().pow(-0.5)
    col = keys - row * num_nodes
    values = inv_sqrt[row] * inv_sqrt[col]
    del row, keys
    crow = torch.cat([degree.new_zeros(1), degree.cumsum(0)])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, (num_nodes, num_nodes), check_invariants=False)


def prompt_adjacency(edge_index: torch.Tensor, batch: torch.Tensor, num_graphs: int = 1) -> torch.Tensor:
    """`normalized_adjacency` of the nodes and one prompt node per graph of `batch`, joined as `add_prompt_nodes`
    joins them (built from `edge_keys`, without the joined `edge_index`)."""
    num_nodes = batch.numel()
    total = num_nodes + num_graphs
    nodes, prompts = torch.arange(num_nodes, device=batch.device), num_nodes + batch
    keys = torch.cat([edge_keys(edge_index.to(batch.device), total), nodes * total + prompts, prompts * total + nodes])
    return normalized_adjacency(None, total, keys)


def propagate(x: torch.Tensor, adj: torch.Tensor, num_rounds: int) -> torch.Tensor:
    """Applies `adj` to `x` `num_rounds` times, with no parameters, in the adjacency's float32: autocast is
    off here, since sparse products have no bf16 kernel on the CPU (`--bf16` training would fail)."""
    with torch.autocast(x.device.type, enabled=False):
        x = x.to(adj.dtype)
        for _ in range(num_rounds):
            x = adj @ x
    return x


def propagate_each(x: torch.Tensor, adj: torch.Tensor, rounds: tuple):
    """Yields `x` after each number of rounds in `rounds` (ascending), propagating once up to the largest."""
    if list(rounds) != sorted(rounds):
        raise ValueError(f"rounds must be in ascending order, got {rounds}")
    done = 0
    for num_rounds in rounds:
        x, done = propagate(x, adj, num_rounds - done), num_rounds
        yield x


class EmbeddingRows:
    """The rows of an `[N, H]` embedding matrix, read as chunks of rows or as blocks of columns.

    This one holds a tensor; `zerog_graph.cache.ShardRows` reads memory-mapped cache shards through the same two
    methods, so that one pipeline (`zerog_logits`, `collapse`) scores a graph held in memory and one that is not.

    Args:
        embeds (torch.Tensor): `[N, H]`.
        chunk_size (int): rows per chunk of `chunks()` (default: `65536`).
    """

    def __init__(self, embeds: torch.Tensor, chunk_size: int = 65536):
        self.embeds, self.chunk_size = embeds, chunk_size

    @property
    def shape(self) -> torch.Size:
        return self.embeds.shape

    def chunks(self):
        """`(rows, embeds[rows])` pairs covering every row once."""
        for start in range(0, self.embeds.size(0), self.chunk_size):
            part = self.embeds[start : start + self.chunk_size]
            yield torch.arange(start, start + part.size(0), device=part.device), part

    def columns(self, start: int, stop: int) -> torch.Tensor:
        """`[N, stop - start]`: columns `start:stop` of every row."""
        return self.embeds[:, start:stop]

    def tensor(self) -> torch.Tensor:
        """All rows, `[N, H]`."""
        return self.embeds


def as_rows(embeds) -> EmbeddingRows:
    """A tensor wrapped as `EmbeddingRows`; anything with `chunks` and `columns` as it is."""
    return embeds if hasattr(embeds, "chunks") else EmbeddingRows(embeds)


def stacked_chunks(nodes, prompts: torch.Tensor):
    """Row chunks of the nodes, then of the prompt nodes (rows `N..N+G-1`), as `add_prompt_nodes` numbers them."""
    yield from nodes.chunks()
    num_nodes = nodes.shape[0]
    yield torch.arange(num_nodes, num_nodes + prompts.size(0), device=prompts.device), prompts


def graph_statistics(x, batch: Optional[torch.Tensor] = None, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and inverse standard deviation of each dimension within each graph of `batch`, `[G, H]` each.

    `x` is a tensor, or a callable returning `(rows, embeds)` chunks (`stacked_chunks`). Two passes over the
    chunks, summed in float64: the result does not depend on how the rows are chunked, and memory follows the
    chunk's size, not the graph's. The variance is unbiased; `eps` inside the square root keeps gradients finite
    when it is 0."""
    chunks = (lambda: EmbeddingRows(x, 4096).chunks()) if isinstance(x, torch.Tensor) else x
    num_graphs = int(batch.max()) + 1 if batch is not None and batch.numel() else 1
    mean = None
    for _ in range(2):
        totals, counts = 0, 0
        for rows, part in chunks():
            part_batch = batch[rows] if batch is not None else torch.zeros_like(rows)
            members = F.one_hot(part_batch, num_graphs).T.double()  # [G, rows]
            part = part.double() if mean is None else (part.double() - mean[part_batch]).square()
            totals, counts = totals + members @ part, counts + members.sum(1, keepdim=True)
        if mean is None:
            mean = totals / counts.clamp(min=1)
    scale = (totals / (counts - 1).clamp(min=1) + eps).rsqrt()
    return mean.float(), scale.float()


def standardize(x: torch.Tensor, batch: Optional[torch.Tensor] = None, eps: float = 1e-6) -> torch.Tensor:
    """Zero mean and unit variance per dimension, within each graph of `batch` (default: one graph)."""
    mean, scale = graph_statistics(x, batch, eps)
    if mean.size(0) > 1:
        mean, scale = mean[batch], scale[batch]
    return (x - mean) * scale


def standardize_labels(
    label_embeds: torch.Tensor, label_batch: Optional[torch.Tensor], node_statistics: tuple, label_statistics: str
) -> torch.Tensor:
    """Label vectors standardised with their own statistics per graph ("labels", ZeroG's rule: two classes become
    exact opposites) or with their graph's `node_statistics` (`[G, H]` mean and inverse std; "nodes")."""
    if label_statistics == "labels":
        return standardize(label_embeds, label_batch)
    if label_statistics != "nodes":
        raise ValueError(f"label_statistics={label_statistics!r} is not one of {LABEL_STATISTICS}")
    label_batch = label_batch if label_batch is not None else torch.zeros_like(label_embeds[:, 0], dtype=torch.long)
    mean, scale = node_statistics
    return (label_embeds - mean[label_batch]) * scale[label_batch]


# Floats in one block of propagated columns (`propagated_blocks`): 64 MB of float32, so that propagating the
# full vectors of a graph of millions of nodes takes a few columns at a time.
PROPAGATION_BLOCK = 2**24


def propagated_blocks(nodes, prompts, adj, mean, scale, x_batch, rounds: tuple, block_size: Optional[int] = None):
    """`(start, stop, [x[:, start:stop] after each R of rounds])`, block after block of columns: the nodes' and
    prompts' vectors standardised with `mean` and `scale` (`[G, H]`, per graph of `x_batch`), then propagated."""
    num_rows, width = nodes.shape[0] + prompts.size(0), nodes.shape[1]
    block_size = block_size or max(1, min(width, PROPAGATION_BLOCK // max(num_rows, 1)))
    for start in range(0, width, block_size):
        stop = min(start + block_size, width)
        x = torch.cat([nodes.columns(start, stop).to(prompts.device), prompts[:, start:stop]]).float()
        x = (x - mean[x_batch, start:stop]) * scale[x_batch, start:stop]
        yield start, stop, list(propagate_each(x, adj, rounds))


def zerog_logits(
    node_embeds,
    prompt_embeds: torch.Tensor,
    label_embeds: torch.Tensor,
    edge_index: torch.Tensor,
    num_rounds: Union[int, tuple],
    standardize_embeds: bool = True,
    batch: Optional[torch.Tensor] = None,
    label_batch: Optional[torch.Tensor] = None,
    cosine: bool = True,
    statistics: Optional[tuple] = None,
    label_statistics: str = "labels",
    reduce: Optional[Callable] = None,
) -> torch.Tensor:
    r"""Cosine similarity of every propagated node embedding with its graph's label embeddings: ZeroG's pipeline
    (standardise -> prompt node -> propagate -> score), the one place it is written.

    Args:
        node_embeds (torch.Tensor or EmbeddingRows): `[N, H]`, the nodes of one or more graphs; `EmbeddingRows`
            (or `zerog_graph.cache.ShardRows`) are read a chunk at a time, so that memory does not follow `N * H`.
        prompt_embeds (torch.Tensor): `[G, H]`, the description of each graph.
        label_embeds (torch.Tensor): `[L, H]`, the label texts of all graphs.
        edge_index (torch.Tensor): `[2, E]`, edges among the `N` nodes.
        num_rounds (int or tuple): propagation rounds R; a tuple (ascending) gives a list of logits, one per R,
            from one propagation and one standardisation.
        standardize_embeds (bool): standardise nodes and labels per graph first (ZeroG's `if_norm`).
        batch (torch.Tensor, optional): `[N]` graph of each node (default: all in graph 0).
        label_batch (torch.Tensor, optional): `[L]` graph of each label (default: all in graph 0).
        cosine (bool): if False, return each propagated node's dot product with the unit label
            vectors instead: the cosine times a positive per-node factor, so the same argmax. It is
            computed by propagating the `[N, L]` projection rather than the `[N, H]` embeddings
            (propagation is linear), which costs `L / H` as much. If True, the vectors are propagated in
            blocks of columns (`propagated_blocks`), and the numerator and the norm summed over the same blocks.
        statistics (tuple, optional): `([G, H] mean, [G, H] inverse std)` to standardise each graph's nodes
            and prompt with, instead of their own (training: the whole source graph's, not the subgraph's).
        label_statistics (str): what standardises the labels: "labels", their own statistics (ZeroG), or
            "nodes", their graph's node statistics (`standardize_labels`).
        reduce (callable, optional): applied to each R's `[N, L]` scores as they are computed, its result kept
            instead (`choose_rounds` keeps each R's argmax: memory holds one `[N, L]` at a time, not one per R).

    :rtype: :class:`torch.Tensor` `[N, L]`, `-inf` where node and label are in different graphs.
    """
    nodes = as_rows(node_embeds)
    reduce = reduce or (lambda scores: scores)
    (num_nodes, width), num_graphs = nodes.shape, prompt_embeds.size(0)
    check_edge_index(edge_index, num_nodes)
    device = prompt_embeds.device
    batch = batch if batch is not None else torch.zeros(num_nodes, dtype=torch.long, device=device)
    label_batch = (
        label_batch if label_batch is not None else torch.zeros(label_embeds.size(0), dtype=torch.long, device=device)
    )
    prompts, labels = prompt_embeds.float(), label_embeds.float()
    x_batch = torch.cat([batch, torch.arange(num_graphs, device=device)])
    adj = prompt_adjacency(edge_index, batch, num_graphs)
    mean, scale = torch.zeros(num_graphs, width, device=device), torch.ones(num_graphs, width, device=device)
    if standardize_embeds:
        mean, scale = (
            statistics if statistics is not None else graph_statistics(lambda: stacked_chunks(nodes, prompts), x_batch)
        )
        mean, scale = mean.to(prompts), scale.to(prompts)
        labels = standardize_labels(labels, label_batch, (mean, scale), label_statistics)
    labels = F.normalize(labels, dim=-1)
    rounds = (num_rounds,) if isinstance(num_rounds, int) else tuple(num_rounds)
    if cosine:
        dots, squares = [0] * len(rounds), [0] * len(rounds)
        for start, stop, propagated in propagated_blocks(nodes, prompts, adj, mean, scale, x_batch, rounds):
            for i, x in enumerate(propagated):
                dots[i] = dots[i] + x[:num_nodes] @ labels[:, start:stop].T
                squares[i] = squares[i] + x[:num_nodes].square().sum(-1)
        # the clamp only absorbs rounding: numerator and norm come from the same propagated vectors
        logits = ((d / s.clamp(min=1e-24).sqrt().unsqueeze(1)).clamp(-1, 1) for d, s in zip(dots, squares))
    else:
        # Standardising is affine, so it moves onto the labels: ((x - m) * s) @ l = x @ (s * l) - (m * s) @ l.
        weights = (labels * scale[label_batch]).double()
        offset = (mean[label_batch].double() * weights).sum(-1)
        projected = torch.empty(num_nodes + num_graphs, labels.size(0), device=device)
        for rows, part in stacked_chunks(nodes, prompts):
            projected[rows] = (part.to(device).double() @ weights.T - offset).float()
        logits = (x[:num_nodes] for x in propagate_each(projected, adj, rounds))
    other_graph = batch.unsqueeze(1) != label_batch.unsqueeze(0)
    logits = [reduce(scores.masked_fill(other_graph, float("-inf"))) for scores in logits]
    return logits[0] if isinstance(num_rounds, int) else logits


class RoundsDiagnostics(NamedTuple):
    """What `choose_rounds` read: `changed[i]`, the fraction of predictions that round `candidates[i + 1]` changed;
    `collapse` at the last candidate (None when a round settled, so it was not computed); and `branch`, the rule
    that chose R: "settled", "not collapsing" or "collapsing"."""

    changed: list
    collapse: Optional[float]
    branch: str


def collapse(
    node_embeds,
    prompt_embeds: torch.Tensor,
    edge_index: torch.Tensor,
    num_rounds: int,
    standardize_embeds: bool = True,
) -> float:
    """Mean pairwise cosine similarity of one graph's node vectors after `num_rounds` rounds of ZeroG's propagation
    (standardised with the graph's statistics and propagated with the prompt node, as in `zerog_logits`; the prompt
    node is left out of the mean): 1 when every node points the same way. Computed from the sum of the unit
    vectors, (|sum|^2 - sum of |u|^2) / (N(N - 1)), with no N x N matrix; 1 for a graph of one node. `node_embeds`
    is a tensor or `EmbeddingRows`; the vectors are propagated in blocks of columns (twice when there are several
    blocks: once for the norms, once for the sum)."""
    nodes = as_rows(node_embeds)
    (num_nodes, width), prompts = nodes.shape, prompt_embeds.float()
    check_edge_index(edge_index, num_nodes)
    if num_nodes < 2:
        return 1.0
    x_batch = torch.zeros(num_nodes + 1, dtype=torch.long, device=prompts.device)
    adj = prompt_adjacency(edge_index, x_batch[:num_nodes])
    mean, scale = torch.zeros(1, width, device=prompts.device), torch.ones(1, width, device=prompts.device)
    if standardize_embeds:
        mean, scale = graph_statistics(lambda: stacked_chunks(nodes, prompts))

    def blocks():
        return propagated_blocks(nodes, prompts, adj, mean, scale, x_batch, (num_rounds,))

    squares = sum(x[:num_nodes].double().square().sum(-1) for _, _, (x,) in blocks())
    norms = squares.sqrt()
    inverse = torch.where(norms > 0, 1 / norms.clamp(min=1e-300), torch.zeros_like(norms))
    total = sum((x[:num_nodes].double() * inverse.unsqueeze(1)).sum(0).square().sum() for _, _, (x,) in blocks())
    return ((total - (norms > 0).sum()) / (num_nodes * (num_nodes - 1))).item()


def choose_rounds(
    node_embeds: torch.Tensor,
    prompt_embeds: torch.Tensor,
    label_embeds: torch.Tensor,
    edge_index: torch.Tensor,
    standardize_embeds: bool = True,
    candidates: tuple = AUTO_ROUNDS,
    tolerance: float = AUTO_ROUNDS_TOLERANCE,
    label_statistics: str = "labels",
    collapse_ceiling: float = AUTO_ROUNDS_COLLAPSE,
) -> tuple[int, RoundsDiagnostics]:
    r"""`num_rounds="auto"`: the propagation rounds R of one graph, from its unlabelled nodes, its edges and
    its label texts (the same arguments as `zerog_logits`, for one graph; no labels are taken).

    Each round first corrects a node's class from its neighbours, and, once most nodes agree with their
    neighbourhood, blurs classes together. R is the first candidate whose own round changed the predicted
    class of fewer than `tolerance` of the nodes: propagation stops once it has settled. When no round
    settles, R is the last candidate if the nodes' `collapse` there is below `collapse_ceiling` (still
    settling, not yet alike), else ZeroG's R=2 (`ZEROG_ROUNDS`: the graph over-smooths). docs/rounds.md says
    how both thresholds were chosen.

    :rtype: `(R, RoundsDiagnostics)`.
    """
    predictions = zerog_logits(
        node_embeds,
        prompt_embeds,
        label_embeds,
        edge_index,
        tuple(candidates),
        standardize_embeds,
        cosine=False,
        label_statistics=label_statistics,
        reduce=lambda scores: scores.argmax(-1),
    )
    changed = [(after != before).float().mean().item() for before, after in zip(predictions, predictions[1:])]
    settled = next((rounds for rounds, change in zip(candidates[1:], changed) if change < tolerance), None)
    if settled is not None:
        return settled, RoundsDiagnostics(changed, None, "settled")
    last = candidates[-1]
    collapsed = collapse(node_embeds, prompt_embeds, edge_index, last, standardize_embeds)
    if collapsed < collapse_ceiling:
        return last, RoundsDiagnostics(changed, collapsed, "not collapsing")
    return ZEROG_ROUNDS, RoundsDiagnostics(changed, collapsed, "collapsing")


# ---------------------------------------------------------------------------------------------
# Outputs and models
# ---------------------------------------------------------------------------------------------


@dataclass
class ZeroGOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `(1,)`, *optional*, returned when `labels` is given):
            Cross-entropy of the scaled node-label cosine similarities.
        logits (`torch.FloatTensor` of shape `(num_nodes, num_labels)`, *optional*):
            Cosine similarities after propagation; `-inf` across graphs.
        node_embeds (`torch.FloatTensor` of shape `(num_nodes, hidden_size)`):
            Pooled embeddings of the node texts, before propagation.
        label_embeds (`torch.FloatTensor` of shape `(num_labels, hidden_size)`, *optional*):
            Pooled embeddings of the label texts.
    """

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    node_embeds: Optional[torch.FloatTensor] = None
    label_embeds: Optional[torch.FloatTensor] = None


@dataclass
class ZeroGClassification(ModelOutput):
    """
    What `ZeroGModel.classify` returns for one graph.

    Args:
        predictions (`torch.LongTensor` of shape `(num_nodes,)`):
            The predicted class of each node, an index into `class_names`.
        scores (`torch.FloatTensor` of shape `(num_nodes, num_classes)`):
            The cosine similarity of each node's propagated embedding with each class's label embedding, after
            standardisation: what the model ranks the classes by (`predictions` is its argmax), in [-1, 1].
        predicted_classes (`list[str]`):
            The name of each node's predicted class.
        class_names (`list[str]`):
            The classes, in the order of the columns of `scores`.
        num_rounds (`int`):
            The propagation rounds R used (chosen from the graph when `num_rounds="auto"`).
    """

    predictions: Optional[torch.LongTensor] = None
    scores: Optional[torch.FloatTensor] = None
    predicted_classes: Optional[list] = None
    class_names: Optional[list] = None
    num_rounds: Optional[int] = None


class ZeroGPreTrainedModel(PreTrainedModel):
    config_class = ZeroGConfig
    base_model_prefix = "zerog"
    supports_gradient_checkpointing = True
    # `forward` returns the mean loss over a batch's labelled nodes and ignores `num_items_in_batch`, so the
    # Trainer must divide by the accumulation steps itself: an accumulated step averages its micro-batch means.
    accepts_loss_kwargs = False

    def _init_weights(self, module):
        """The wrapper has no weights of its own; the backbone keeps its pretrained ones."""

    def init_weights(self):
        """Nothing to initialise or tie (`post_init` calls this): the backbone arrives with its pretrained weights
        and LoRA with its own initialisation (B = 0), which transformers' backbone `_init_weights` would redraw."""

    def _backward_compatibility_gradient_checkpointing(self):
        """Kept out of `post_init`: `config.gradient_checkpointing` is ZeroG's own field, which `load_backbone`
        applies to the backbone and a saved config keeps; transformers would delete it from the config."""


class ZeroGModel(ZeroGPreTrainedModel):
    """A text backbone with pooling, and the ZeroG loss over subgraphs when graph inputs are given.

    The backbone's weights load from `config.lm_name_or_path` (or `lm_path`, a local copy); a saved
    ZeroG model holds only its config, code, tokenizer and LoRA adapter.

    Unlike most transformers models, `__init__` loads weights and writes into `config`: this is a remote-code
    wrapper of a separately hosted backbone. A ZeroG repository holds no backbone weights for
    `from_pretrained` to fill in, so the backbone (and the adapter, when `adapter_path` is given) loads from
    its own source here. What loading resolves (the backbone's config, decoder or not, the pooling mode, the
    LoRA rank) is written into `config`, so that a saved model never re-derives it. `post_init()` ends it, as
    in transformers' models, with weight initialisation left out (`init_weights`).
    """

    def __init__(
        self,
        config: ZeroGConfig,
        lm_path: Optional[str] = None,
        adapter_path: Optional[str] = None,
        tokenizer_path: Optional[str] = None,
        dtype: Optional[torch.dtype] = None,
        hub_kwargs: Optional[dict] = None,
    ):
        r"""
        Args:
            lm_path (`str`, *optional*): a local copy of the backbone, used instead of `config.lm_name_or_path`.
            adapter_path (`str`, *optional*): a folder or Hub repository holding the LoRA adapter.
            tokenizer_path (`str`, *optional*): a folder or Hub repository holding the tokenizer.
            dtype (`torch.dtype`, *optional*): the backbone's dtype (default float32).
            hub_kwargs (`dict`, *optional*): `revision`, `token`, `cache_dir`, `local_files_only` of the
                adapter's and tokenizer's repository; the backbone gets them too, with `config.lm_revision`.

        The resolved pooling mode and LoRA rank are written into `config`, so a saved model keeps them.
        """
        super().__init__(config)
        hub_kwargs = hub_kwargs or {}
        self.lm_path = lm_path
        self.lm = load_backbone(config, lm_path, adapter_path, dtype, hub_kwargs)
        lm_config = self.lm.config
        skipped = ("quantization_config", "transformers_version")
        config.lm_config = {k: v for k, v in lm_config.to_dict().items() if not k.startswith("_") and k not in skipped}
        if config.lm_is_decoder is None:
            config.lm_is_decoder = is_decoder_architecture(lm_config)
        check_hidden_layer(config.hidden_layer, lm_config, config.lm_name_or_path)
        lm_kwargs = backbone_hub_kwargs(config, lm_path, hub_kwargs)
        self.pooling = ZeroGPooling(resolve_pooling(config, config.lm_is_decoder, lm_path, **lm_kwargs))
        config.pooling_mode = self.pooling.pooling_mode
        if config.use_lora:
            config.lora_r = self.lm.peft_config["default"].r
        self.tokenizer = load_tokenizer(
            tokenizer_path or lm_path or config.lm_name_or_path,
            config.lm_is_decoder,
            lm_config,
            **(hub_kwargs if tokenizer_path else lm_kwargs),
        )
        rows = self.lm.get_input_embeddings().num_embeddings
        if len(self.tokenizer) > rows:
            raise ValueError(
                f"The tokenizer of {tokenizer_path or lm_path or config.lm_name_or_path!r} has {len(self.tokenizer)} "
                f"tokens, more than the backbone's {rows} embedding rows: ids past {rows - 1} have no embedding "
                f"(tokens added without resizing the embeddings); refused"
            )
        self.post_init()

    def check_trainable(self):
        """Refuses full fine-tuning of a decoder: in training, its only trainable weights may be LoRA's."""
        if not self.config.lm_is_decoder:
            return
        full = [name for name, param in self.lm.named_parameters() if param.requires_grad and "lora_" not in name]
        if full:
            raise ValueError(
                f"Full fine-tuning of a decoder is refused ({len(full)} backbone tensors require grad, e.g. "
                f"{full[0]}): ZeroG trains decoders through LoRA only (use_lora=True). For inference without "
                f"LoRA, keep the backbone frozen (model.lm.requires_grad_(False))."
            )

    def train(self, mode: bool = True):
        """As `nn.Module.train`, after `check_trainable`; and 4-bit layers stay in training mode:
        bitsandbytes (0.50) repacks 4-bit weights in place for CPU inference when such a layer runs in
        eval mode, and packed weights have no backward, so LoRA would get zero gradients afterwards.
        They hold no dropout."""
        if mode:
            self.check_trainable()
        super().train(mode)
        if self.config.quantization == "4bit":
            for module in self.lm.modules():
                if getattr(getattr(module, "weight", None), "quant_state", None) is not None:
                    module.training = True
        return self

    @property
    def pooling_mode(self) -> str:
        return self.pooling.pooling_mode

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled backbone states (of `config.hidden_layer`), one row per text."""
        if self.config.hidden_layer == -1:
            hidden = self.lm(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        else:
            outputs = self.lm(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
            hidden = outputs.hidden_states[self.config.hidden_layer]
        return self.pooling(hidden, attention_mask)

    def tokenize(
        self,
        texts: list,
        padding=True,
        max_length: Optional[int] = None,
        kind: str = "node",
        labels: Optional[list] = None,
        description: Optional[str] = None,
    ):
        """Tokenize texts of one `kind` ("node", "label" or "description") with its template, filled with the
        graph's class names `labels` and `description` where it uses them, at the config's max length (or a
        shorter `max_length`)."""
        max_length = self.max_length if max_length is None else min(max_length, self.max_length)
        template = filled_template(self.config.templates, kind, labels, description)
        return tokenize_texts(self.tokenizer, list(texts), template, max_length, padding)

    @property
    def max_length(self) -> int:
        limit = getattr(self.lm.config, "max_position_embeddings", None) or self.config.max_seq_length
        return min(self.config.max_seq_length, limit)

    def encode_batches(
        self,
        texts: list,
        batch_size: int = 32,
        max_length: Optional[int] = None,
        kind: str = "node",
        labels: Optional[list] = None,
        description: Optional[str] = None,
        window: Optional[int] = None,
    ):
        """Yields `(rows, embeds)`: the float32 embeddings of `texts[rows]`, `batch_size` texts at a time. Texts are
        tokenized `window` (default `TOKENIZE_WINDOW`) batches at a time, in one call of the fast tokenizer (which
        uses every core), and batched within that window by token count, longest first, so that batches pad little:
        memory holds one window's token ids whatever the number of texts, and a window's batches depend on its texts
        alone. `kind`, `labels` and `description` choose and fill the template (`tokenize`)."""
        device, window = next(self.lm.parameters()).device, window or TOKENIZE_WINDOW
        for start in range(0, len(texts), batch_size * window):
            encoded = self.tokenize(
                texts[start : start + batch_size * window], False, max_length, kind, labels, description
            )
            ids = encoded["input_ids"]
            by_length = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
            for offset in range(0, len(by_length), batch_size):
                chosen = by_length[offset : offset + batch_size]
                batch = pad_batch({"input_ids": [ids[i] for i in chosen]}, self.tokenizer)
                embeds = self.embed(batch["input_ids"].to(device), batch["attention_mask"].to(device)).float().cpu()
                yield torch.tensor([start + i for i in chosen], dtype=torch.long), embeds

    @torch.inference_mode()
    def encode(
        self,
        texts: Union[str, list],
        batch_size: int = 32,
        show_progress_bar: bool = False,
        max_length: Optional[int] = None,
        kind: str = "node",
        labels: Optional[list] = None,
        description: Optional[str] = None,
        prompt: Optional[str] = None,
        normalize_embeddings: bool = False,
        convert_to_numpy: bool = False,
        device: Optional[Union[str, torch.device]] = None,
        convert_to_tensor: bool = False,
        precision: str = "float32",
        output_value: str = "sentence_embedding",
    ):
        """Embeds texts as sentence-transformers' `encode` does: a list gives `[len(texts), hidden_size]`, one string
        gives one `[hidden_size]` vector; float32, a tensor or (`convert_to_numpy`) a numpy array.

        Each distinct text is encoded once, in batches of similar length (longest first), tokenized a window of
        batches at a time (`encode_batches`). `prompt` is put before every text (inside the template);
        `normalize_embeddings` gives unit vectors; `device` moves the model there first. `max_length` cuts the texts
        shorter than the config's `max_seq_length`; `kind`, `labels` and `description` choose and fill the template
        (`tokenize`). `convert_to_tensor`, `precision` and `output_value` are sentence-transformers' (float32 sentence
        embeddings only). Every argument is checked before the model moves or runs."""
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        bad = next((i for i, text in enumerate(texts) if not isinstance(text, str)), None)
        if bad is not None:
            raise TypeError(f"texts[{bad}] is {type(texts[bad]).__name__}, not str")
        texts, labels = check_texts(texts, "texts"), None if labels is None else check_texts(labels, "labels")
        check_texts([text for text in (prompt, description) if text is not None], "prompt and description")
        batch_size = check_positive_int(batch_size, "batch_size")
        check_flag(normalize_embeddings, "normalize_embeddings"), check_flag(show_progress_bar, "show_progress_bar")
        max_length = None if max_length is None else check_positive_int(max_length, "max_length")
        as_numpy = sentence_transformers_options(convert_to_numpy, convert_to_tensor, precision, output_value)
        if prompt is not None:
            texts = [prompt + text for text in texts]
        if device is not None:
            self.to(check_device(device))
        was_training = self.training
        self.eval()
        distinct = list(dict.fromkeys(texts))
        order = length_order(distinct)
        embeds = torch.empty(len(distinct), self.lm.config.hidden_size)
        batches = self.encode_batches([distinct[i] for i in order], batch_size, max_length, kind, labels, description)
        if show_progress_bar:
            batches = logging.tqdm(batches, desc="encode", unit="batch", total=-(-len(order) // batch_size))
        for rows, batch in batches:
            embeds[order[rows]] = batch
        self.train(was_training)
        check_finite(embeds, self.name_or_path or self.config.lm_name_or_path, self.config.lm_name_or_path)
        if len(distinct) < len(texts):
            position = {text: i for i, text in enumerate(distinct)}
            embeds = embeds[torch.tensor([position[text] for text in texts], dtype=torch.long)]
        if normalize_embeddings:
            embeds = F.normalize(embeds, dim=-1)
        embeds = embeds[0] if single else embeds
        return embeds.numpy() if as_numpy else embeds

    @torch.inference_mode()
    def classify(
        self,
        texts: list,
        edge_index,
        class_names: list,
        description: Optional[str] = None,
        label_texts: Optional[list] = None,
        num_rounds: Optional[Union[int, str]] = None,
        directed: bool = False,
        batch_size: int = 32,
    ) -> ZeroGClassification:
        """Zero-shot node classification of one graph: each node's text, the edges and the class names in, each
        node's class out. Needs nothing beyond this file (a model loaded with `AutoModel` alone classifies).

        Args:
            texts (`list[str]`): the text of each node.
            edge_index: a `[2, E]` integer tensor of node indices (PyG's layout) or a list of `(i, j)` pairs;
                made two-way unless `directed`.
            class_names (`list[str]`): the classes, filling the templates' `{labels}`.
            description (`str`, *optional*): what the graph is, the prompt node's text (default: empty).
            label_texts (`list[str]`, *optional*): the text embedded for each class (default: its name, `_` as
                a space).
            num_rounds (`int` or `"auto"`, *optional*): propagation rounds R (default: the config's); `"auto"`
                chooses R from the graph, without labels (`choose_rounds`).

        The embeddings come from `encode`, the scores from `zerog_logits` with the config's standardisation, as
        `zerog_graph.evaluate_graph` computes them.
        """
        texts, class_names = check_texts(texts, "texts"), check_texts(class_names, "class_names")
        if not texts or not class_names:
            raise ValueError(
                f"classify needs at least one node and one class, got {len(texts)} and {len(class_names)}"
            )
        check_not_all_blank(texts, "texts"), check_class_names(class_names, "class_names")
        directed, batch_size = check_flag(directed, "directed"), check_positive_int(batch_size, "batch_size")
        label_texts = [name.replace("_", " ") for name in class_names] if label_texts is None else label_texts
        label_texts = check_texts(label_texts, "label_texts")
        check_label_texts(label_texts, class_names, "label_texts")
        description = "" if description is None else check_texts([description], "description")[0]
        num_rounds = self.config.num_rounds if num_rounds is None else check_num_rounds(num_rounds, "num_rounds")
        edges = edge_index_from(edge_index, len(texts))
        if not directed:
            edges = torch.cat([edges, edges.flip(0)], dim=1)
        fields = {"labels": class_names, "description": description}
        nodes = self.encode(texts, batch_size, kind="node", **fields)
        prompt = self.encode([description], batch_size, kind="description", **fields)
        labels = self.encode(label_texts, batch_size, kind="label", **fields)
        standardize, label_statistics = self.config.standardize, self.config.label_statistics
        if num_rounds == "auto":
            num_rounds, _ = choose_rounds(nodes, prompt, labels, edges, standardize, label_statistics=label_statistics)
        scores = zerog_logits(nodes, prompt, labels, edges, num_rounds, standardize, label_statistics=label_statistics)
        predictions = scores.argmax(-1)
        return ZeroGClassification(
            predictions=predictions,
            scores=scores,
            predicted_classes=[class_names[i] for i in predictions.tolist()],
            class_names=class_names,
            num_rounds=num_rounds,
        )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        edge_index: Optional[torch.Tensor] = None,
        prompt_input_ids: Optional[torch.Tensor] = None,
        prompt_attention_mask: Optional[torch.Tensor] = None,
        label_input_ids: Optional[torch.Tensor] = None,
        label_attention_mask: Optional[torch.Tensor] = None,
        batch: Optional[torch.Tensor] = None,
        label_batch: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        node_mean: Optional[torch.Tensor] = None,
        node_scale: Optional[torch.Tensor] = None,
        **kwargs,
    ) -> ZeroGOutput:
        r"""
        Embeds the node texts. With graph inputs (`edge_index`, prompt and label texts) it also
        scores every node against its graph's labels, and with `labels` returns the ZeroG loss.

        `batch` and `label_batch` give the subgraph of each node and label text; `labels` index
        rows of the label texts (-1 is ignored). `node_mean` and `node_scale` (`[G, H]`, optional)
        standardise each subgraph with its whole graph's statistics rather than its own.
        """
        if self.training and torch.is_grad_enabled():
            self.check_trainable()
        node_embeds = self.embed(input_ids, attention_mask)
        if edge_index is None or label_input_ids is None or prompt_input_ids is None:
            return ZeroGOutput(node_embeds=node_embeds)
        prompt_embeds = self.embed(prompt_input_ids, prompt_attention_mask)
        label_embeds = self.embed(label_input_ids, label_attention_mask)
        logits = zerog_logits(
            node_embeds,
            prompt_embeds,
            label_embeds,
            edge_index,
            SUBGRAPH_ROUNDS if self.config.num_rounds == "auto" else self.config.num_rounds,
            self.config.standardize,
            batch,
            label_batch,
            statistics=None if node_mean is None else (node_mean, node_scale),
            label_statistics=self.config.label_statistics,
        )
        loss = None
        if labels is not None:
            loss = F.cross_entropy(self.config.logit_scale * logits, labels, ignore_index=-1)
        return ZeroGOutput(loss=loss, logits=logits, node_embeds=node_embeds, label_embeds=label_embeds)

    def save_pretrained(
        self, save_directory: str, is_main_process: bool = True, push_to_hub: bool = False, token=None, **kwargs
    ):
        """Writes the config (with `auto_map`), the code, the tokenizer and the LoRA adapter (in
        `ADAPTER_SUBFOLDER`, with its own short README), never the backbone's weights; no file holds an absolute
        local path of the backbone but config.json, and only where `lm_name_or_path` is one.

        `push_to_hub=True` then uploads the files written (and a README.md model card in the folder) to the Hub
        repository `repo_id` (default: the folder's name) through huggingface_hub, with `token`, `private`,
        `commit_message`, `commit_description` and `create_pr`; a backbone named by a local path is refused
        there. transformers' keywords about weights (`WEIGHTS_SAVE_KWARGS`) change nothing; any other keyword is
        refused. Only the main process writes (`is_main_process`)."""
        push_kwargs = {key: kwargs.pop(key) for key in PUSH_KWARGS if key in kwargs}
        refuse_unknown_kwargs("save_pretrained", {k: v for k, v in kwargs.items() if k not in WEIGHTS_SAVE_KWARGS})
        if push_kwargs and not push_to_hub:
            raise TypeError(f"save_pretrained(): {next(iter(push_kwargs))!r} is an option of push_to_hub=True")
        if push_to_hub and os.path.isabs(self.config.lm_name_or_path):
            raise ValueError(
                f"push_to_hub: the backbone is the local folder {self.config.lm_name_or_path!r}, which nobody "
                f"else can load; set model.config.lm_name_or_path to its Hub id (and lm_revision) first"
            )
        if not is_main_process:
            return None
        os.makedirs(save_directory, exist_ok=True)
        written = [os.path.join(save_directory, "config.json")]
        if self._auto_class is not None:
            written += custom_object_save(self, save_directory, config=self.config)
        self.config.save_pretrained(save_directory)
        written += self.tokenizer.save_pretrained(save_directory)
        if self.config.use_lora:
            written += self.save_adapter(os.path.join(save_directory, ADAPTER_SUBFOLDER))
        if push_to_hub:
            return self.push_folder(save_directory, written, token, **push_kwargs)
        return None

    def save_adapter(self, folder: str) -> list:
        """Writes the LoRA adapter into `folder` with the backbone recorded by `portable_name` and a README saying
        what the folder is (not peft's empty template); returns the files written."""
        peft_config = self.lm.peft_config["default"]
        recorded = peft_config.base_model_name_or_path
        peft_config.base_model_name_or_path = portable_name(self.config.lm_name_or_path)
        try:
            # No embedding layers: ZeroG never resizes the vocabulary (peft's "auto" would look the backbone up).
            self.lm.save_pretrained(folder, safe_serialization=True, save_embedding_layers=False)
        finally:
            peft_config.base_model_name_or_path = recorded
        with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
            f.write(ADAPTER_README.format(backbone=portable_name(self.config.lm_name_or_path)))
        return [
            os.path.join(folder, name) for name in ("adapter_config.json", "adapter_model.safetensors", "README.md")
        ]

    @staticmethod
    def push_folder(folder: str, written: list, token=None, repo_id: Optional[str] = None, **options) -> str:
        """Uploads the files `written` into `folder` (and its README.md, when there is one) to the Hub repository
        `repo_id` (default: the folder's name), creating it if needed; returns the commit's URL."""
        repo_id = repo_id or os.path.basename(os.path.normpath(folder))
        private = options.pop("private", None)
        files = [os.path.relpath(path, folder).replace(os.sep, "/") for path in written]
        if os.path.isfile(os.path.join(folder, "README.md")):
            files.append("README.md")
        api = hf_api()
        repo_id = api.create_repo(repo_id, token=token, private=private, exist_ok=True).repo_id
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            allow_patterns=sorted(set(files)),
            token=token,
            commit_message=options.pop("commit_message", None) or "Upload ZeroG model",
            **options,
        )
        return commit.commit_url

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str,
        *model_args,
        config: Optional[ZeroGConfig] = None,
        lm_path: Optional[str] = None,
        dtype: Optional[torch.dtype] = None,
        device=None,
        **kwargs,
    ):
        """Loads a saved ZeroG model: the backbone from its own source, then the adapter and tokenizer from here,
        on `device` (default: the CPU).

        `revision`, `token`, `cache_dir` and `local_files_only` apply to every file of this repository
        (config, adapter, tokenizer); the backbone takes `token`, `cache_dir`, `local_files_only` and
        its own `config.lm_revision`. `AutoModel.from_pretrained` passes them all, with `config=`. Any other
        keyword argument is refused with its name (but those AutoModel adds itself, `AUTO_MODEL_KWARGS`);
        transformers' standard loading keywords (`torch_dtype`, `device_map`, `attn_implementation`,
        `low_cpu_mem_usage`, `use_safetensors`, `output_loading_info`) are honoured or refused with the reason
        (`checks_zerog.loading_options`)."""
        if model_args:
            raise TypeError(f"from_pretrained() takes no positional arguments after the name; got {model_args!r}")
        hub_kwargs = {k: kwargs.pop(k) for k in HUB_KWARGS if k in kwargs}
        hub_kwargs = {k: v for k, v in hub_kwargs.items() if v is not None}
        from_auto = kwargs.get("_from_auto", False)
        for key in AUTO_MODEL_KWARGS:
            kwargs.pop(key, None)
        for key, default in UNSUPPORTED_HUB_KWARGS.items():
            if key in kwargs and kwargs[key] in (default, None):
                kwargs.pop(key)
        options = loading_options(kwargs, device, dtype)  # transformers' standard keywords, honoured or refused
        refuse_unknown_kwargs("from_pretrained", kwargs)
        device, dtype, attn_implementation = options["device"], options["dtype"], options["attn_implementation"]
        if from_auto and attn_implementation is None and config is not None:  # AutoModel puts it in the config
            attn_implementation, config._attn_implementation_internal = config._attn_implementation_internal, None
        if config is None:
            config = ZeroGConfig.from_pretrained(pretrained_model_name_or_path, **hub_kwargs)
        if device is not None and config.quantization is not None:
            raise ValueError(f"device={str(device)!r}: a quantised backbone is placed by bitsandbytes, not moved")
        adapter_path = pretrained_model_name_or_path if config.use_lora else None
        if lm_path is None and os.path.isdir(pretrained_model_name_or_path):
            lm_path = saved_folder_backbone(pretrained_model_name_or_path, config.lm_name_or_path)
        model = cls(
            config,
            lm_path=lm_path,
            adapter_path=adapter_path,
            tokenizer_path=pretrained_model_name_or_path,
            dtype=dtype,
            hub_kwargs=hub_kwargs,
        )
        if attn_implementation is not None:  # the backbone's, as transformers applies it to a model's attention
            try:
                model.lm.set_attn_implementation(attn_implementation)
            except (ImportError, ValueError) as error:
                raise ValueError(f"attn_implementation={attn_implementation!r}: {one_line(error)}") from None
        if device is not None:
            model.to(device)
        if options["output_loading_info"]:  # nothing missing: the backbone and adapter loads check their own keys
            return model.eval(), {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": [], "error_msgs": []}
        return model.eval()


ZeroGConfig.register_for_auto_class()
ZeroGModel.register_for_auto_class("AutoModel")

__all__ = ["ZeroGModel", "ZeroGPreTrainedModel", "ZeroGOutput", "ZeroGClassification", "ZeroGPooling", "zerog_logits"]
