"""Builds a ZeroGModel from whatever names a model: a saved ZeroG folder, a Hub id, a local
backbone folder or a short name, using packaged local copies of backbones when they exist."""

import json
from pathlib import Path
from typing import Optional

import torch
from transformers import AutoConfig, AutoModel

from configuration_zerog import PROMPTEOL_TEMPLATE, ZeroGConfig
from modeling_zerog import ZeroGModel, is_decoder_architecture, load_backbone_config

from .backbones import hub_id, local_backbone

# Template used for decoder backbones when none is given (measured in README "Choosing defaults").
DECODER_DEFAULT_TEMPLATE = PROMPTEOL_TEMPLATE


# The only code a ZeroG folder may name: this project's two files.
ALLOWED_AUTO_MAP = {"AutoConfig": "configuration_zerog.ZeroGConfig", "AutoModel": "modeling_zerog.ZeroGModel"}


def read_json_object(path: Path):
    """A JSON object from a model folder's file, or None when the file is absent."""
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def check_auto_map(folder: Path) -> None:
    """Refuses a folder whose config.json or tokenizer_config.json names code other than this project's."""
    for name in ("config.json", "tokenizer_config.json"):
        auto_map = (read_json_object(folder / name) or {}).get("auto_map") or {}
        entries = auto_map.items() if isinstance(auto_map, dict) else [("auto_map", auto_map)]
        for key, value in entries:
            if ALLOWED_AUTO_MAP.get(key) != value:
                raise ValueError(
                    f"{folder / name}: auto_map entry {key!r}: {value!r} names code that is not this project's "
                    f"{ALLOWED_AUTO_MAP}; refused (nothing from the folder ran)"
                )


def is_zerog_folder(path: str) -> bool:
    """Whether `path` is a folder holding a saved ZeroG model (config.json with model_type "zerog")."""
    config = read_json_object(Path(path) / "config.json") if Path(path).is_dir() else None
    return config is not None and config.get("model_type") == "zerog"


def load_zerog_config(folder: Path, **overrides) -> ZeroGConfig:
    """The config of a ZeroG folder with `overrides` applied, every field checked; errors name the file."""
    config_file = folder / "config.json"
    try:
        return ZeroGConfig.from_dict({**read_json_object(config_file), **overrides})
    except (TypeError, ValueError) as error:
        raise ValueError(f"{config_file}: {error}") from None


def backbone_config(name_or_path: str) -> tuple:
    """(Hub id or path, local copy or None, the backbone's config, whether it is a decoder)."""
    lm_name = hub_id(name_or_path)
    lm_path = local_backbone(lm_name)
    lm_config = load_backbone_config(lm_path or lm_name)  # no code runs; MoE and multimodal refused
    return lm_name, lm_path, lm_config, is_decoder_architecture(lm_config)


def load_model(name_or_path: str, *args, **kwargs) -> ZeroGModel:
    """`build_model`, with a failure of the underlying loaders (a size mismatch, a damaged safetensors
    file, a config field of the wrong type, ...) turned into a `ValueError` that names the model."""
    try:
        return build_model(name_or_path, *args, **kwargs)
    except (ValueError, OSError, ImportError):
        raise
    except Exception as error:
        raise ValueError(f"{name_or_path}: cannot load this model: {type(error).__name__}: {error}") from None


def build_model(
    name_or_path: str,
    pooling_mode: Optional[str] = None,
    template: Optional[str] = None,
    dtype: Optional[torch.dtype] = None,
    trust_remote_code: bool = False,
    **config_kwargs,
) -> ZeroGModel:
    """A ZeroG model: a saved one as it was saved, or a fresh one around a backbone.

    A fresh model gets no LoRA (it is evaluated training-free) unless `use_lora=True` is passed;
    decoders get `DECODER_DEFAULT_TEMPLATE` unless a template is given ("" for none).

    Nothing in a folder runs: a ZeroG folder loads with this installed project's code, and its
    `auto_map` (config.json, tokenizer_config.json) may name only `ALLOWED_AUTO_MAP`, else it is
    refused. `trust_remote_code=True` loads a ZeroG folder with its own copy of those two files
    instead. Backbones never run code from their folder or repository.
    """
    if is_zerog_folder(name_or_path):
        folder = Path(name_or_path)
        check_auto_map(folder)
        overrides = {"pooling_mode": pooling_mode} if pooling_mode is not None else {}
        if template is not None:
            overrides["template"] = template or None  # "" asks for no template
        config = load_zerog_config(folder, **overrides, **config_kwargs)
        lm_path = local_backbone(config.lm_name_or_path)
        if trust_remote_code:  # the folder's own copy of this project's code (auto_map checked above)
            config = AutoConfig.from_pretrained(folder, trust_remote_code=True, **overrides, **config_kwargs)
            return AutoModel.from_pretrained(
                folder, config=config, trust_remote_code=True, lm_path=lm_path, dtype=dtype
            )
        return ZeroGModel.from_pretrained(folder, config=config, lm_path=lm_path, dtype=dtype)
    lm_name, lm_path, _, is_decoder = backbone_config(name_or_path)
    if template is None:
        template = DECODER_DEFAULT_TEMPLATE if is_decoder else None
    config_kwargs.setdefault("use_lora", False)
    config = ZeroGConfig(
        lm_name_or_path=lm_name, pooling_mode=pooling_mode or "auto", template=template or None, **config_kwargs
    )
    return ZeroGModel(config, lm_path=lm_path, dtype=dtype)
