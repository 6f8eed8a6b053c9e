"""Builds a ZeroGModel from whatever names a model: a saved ZeroG folder, a Hub id, a local
backbone folder or a short name, using packaged local copies of backbones when they exist."""

import os
import re
from typing import Optional

import torch
from transformers import AutoConfig, AutoModel

from checks_zerog import REFUSED_LOADING_KWARGS, check_device, loading_options
from configuration_zerog import DECODER_DEFAULT_TEMPLATE, FIELD_TYPES, ZeroGConfig, template_settings
from modeling_zerog import (
    ZeroGModel,
    is_decoder_architecture,
    load_backbone_config,
    one_line,
    read_hub_json,
    saved_folder_backbone,
)

from .backbones import hub_id, local_backbone

# The only code a ZeroG folder may name: this project's two files.
ALLOWED_AUTO_MAP = {"AutoConfig": "configuration_zerog.ZeroGConfig", "AutoModel": "modeling_zerog.ZeroGModel"}


# A Hub id, `org/repo`, optionally pinned as `org/repo@revision` (a branch, tag or commit).
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


def check_auto_map(source: str, hub_kwargs: dict) -> None:
    """Refuses a ZeroG model whose config.json or tokenizer_config.json names code other than this project's."""
    for name in ("config.json", "tokenizer_config.json"):
        auto_map = (read_hub_json(source, name, dict, **hub_kwargs) or {}).get("auto_map") or {}
        entries = auto_map.items() if isinstance(auto_map, dict) else [("auto_map", auto_map)]
        for key, value in entries:
            if ALLOWED_AUTO_MAP.get(key) != value:
                raise ValueError(
                    f"{source}/{name}: auto_map entry {key!r}: {value!r} names code that is not this project's "
                    f"{ALLOWED_AUTO_MAP}; refused (nothing from the folder ran)"
                )


# A model folder holds a few dozen files; the symlink check reads no more entries than this.
MAX_FOLDER_ENTRIES = 100_000


def check_folder_symlinks(folder: str) -> None:
    """Refuses a model folder holding a symlink that leaves it: what it points at would be read as part of the
    model (a tokenizer's vocabulary, say) and written into every folder saved from it, and pushed to the Hub.
    A Hub cache snapshot (`.../snapshots/<commit>`) may link into its own repository's `blobs` folder."""
    root = os.path.realpath(folder)
    allowed = [root]
    if os.path.basename(os.path.dirname(root)) == "snapshots":
        allowed.append(os.path.join(os.path.dirname(os.path.dirname(root)), "blobs"))
    seen = 0
    for parent, folders, files in os.walk(folder):  # linked folders are listed, not entered
        seen += len(folders) + len(files)
        if seen > MAX_FOLDER_ENTRIES:
            raise ValueError(f"{folder} holds over {MAX_FOLDER_ENTRIES:,} files and folders: not a model folder")
        for name in folders + files:
            path = os.path.join(parent, name)
            if os.path.islink(path):
                target = os.path.realpath(path)
                if not any(os.path.commonpath([place, target]) == place for place in allowed):
                    raise ValueError(
                        f"{path} is a symlink to {target}, outside the model folder {folder}; refused (what it "
                        f"points at would be loaded as part of the model and saved with it)"
                    )


def zerog_source(name_or_path: str) -> Optional[tuple]:
    """`(folder or Hub repository, Hub options)` when `name_or_path` is a saved ZeroG model (config.json with
    model_type "zerog"): a local folder, or a Hub id `org/repo[@revision]`, found in the local Hub cache or
    downloaded; else None."""
    if os.path.isdir(name_or_path):
        source, hub_kwargs = name_or_path, {}
    elif os.path.exists(name_or_path) or not HUB_ID.match(name_or_path):
        return None
    else:
        source, _, revision = name_or_path.partition("@")
        hub_kwargs = {"revision": revision} if revision else {}
    config = read_hub_json(source, "config.json", dict, **hub_kwargs)
    return (source, hub_kwargs) if config is not None and config.get("model_type") == "zerog" else None


def load_zerog_config(source: str, hub_kwargs: dict, **overrides) -> ZeroGConfig:
    """The config of a saved ZeroG model with `overrides` applied, every field checked; errors name the file."""
    try:
        return ZeroGConfig.from_dict({**read_hub_json(source, "config.json", dict, **hub_kwargs), **overrides})
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source}/config.json: {error}") from None


def backbone_config(name_or_path: str) -> tuple:
    """(Hub id or path, local copy or None, the backbone's config, whether it is a decoder)."""
    lm_name = hub_id(name_or_path)
    lm_path = local_backbone(lm_name)
    lm_config = load_backbone_config(lm_path or lm_name)  # no code runs; MoE and multimodal refused
    return lm_name, lm_path, lm_config, is_decoder_architecture(lm_config)


def load_model(name_or_path: str, *args, device=None, **kwargs) -> ZeroGModel:
    """`build_model`, on `device` (a `torch.device` or its name, e.g. "cuda"; default: the CPU), with a failure of
    the underlying loaders (a size mismatch, a damaged safetensors file, a config field of the wrong type, ...)
    turned into a `ValueError` that names the model. A keyword that is not a ZeroG config field is refused; of
    `from_pretrained`'s, `torch_dtype` is `dtype`, and the Hub options are refused naming what to do instead."""
    if "torch_dtype" in kwargs:  # transformers' older name
        kwargs["dtype"] = loading_options({"torch_dtype": kwargs.pop("torch_dtype")}, dtype=kwargs.get("dtype"))[
            "dtype"
        ]
    hub_option = next((key for key in LOAD_MODEL_HUB_OPTIONS if key in kwargs), None)
    if hub_option is not None:
        raise ValueError(f"load_model(): {hub_option} is not applied: {LOAD_MODEL_HUB_OPTIONS[hub_option]}")
    unknown = [key for key in kwargs if key not in BUILD_OPTIONS and key not in FIELD_TYPES]
    if unknown:
        raise TypeError(
            f"load_model() got an unexpected keyword argument {unknown[0]!r}; it takes {', '.join(BUILD_OPTIONS)}, "
            f"device and the config's fields ({', '.join(FIELD_TYPES)})"
        )
    device = None if device is None else check_device(device)
    try:
        model = build_model(name_or_path, *args, **kwargs)
    except (ValueError, OSError, ImportError):
        raise
    except Exception as error:
        raise ValueError(f"{name_or_path}: cannot load this model: {one_line(error)}") from None
    if device is not None:
        if model.config.quantization is not None:
            raise ValueError(f"device={str(device)!r}: a quantised backbone is placed by bitsandbytes, not moved")
        model.to(device)
    return model


# `from_pretrained`'s Hub options, which `load_model` takes from the name and the environment instead.
LOAD_MODEL_HUB_OPTIONS = {
    "revision": "name it in the model, org/repo@revision (a saved ZeroG model), or pass lm_revision= (a backbone)",
    "cache_dir": "load_model reads the Hub cache that HF_HUB_CACHE (or HF_HOME) names; set that",
    "local_files_only": "set HF_HUB_OFFLINE=1 to read only what the Hub cache holds",
    **REFUSED_LOADING_KWARGS,
}
# `build_model`'s own keyword arguments (any other must be a config field).
BUILD_OPTIONS = ("pooling_mode", "template", "dtype", "trust_remote_code")


def build_model(
    name_or_path: str,
    pooling_mode: Optional[str] = None,
    template: Optional[str] = None,
    dtype: Optional[torch.dtype] = None,
    trust_remote_code: bool = False,
    **config_kwargs,
) -> ZeroGModel:
    """A ZeroG model: a saved one (a folder, or a Hub id `org/repo[@revision]`) as it was saved, or a fresh
    one around a backbone.

    A fresh model gets no LoRA (it is evaluated training-free) unless `use_lora=True` is passed;
    decoders get `DECODER_DEFAULT_TEMPLATE` unless a template is given ("" for none).

    Nothing in a folder runs: a ZeroG folder loads with this installed project's code, and its
    `auto_map` (config.json, tokenizer_config.json) may name only `ALLOWED_AUTO_MAP`, else it is
    refused. `trust_remote_code=True` loads a ZeroG folder with its own copy of those two files
    instead. Backbones never run code from their folder or repository. A local model or backbone
    folder holding a symlink that leaves it is refused (`check_folder_symlinks`).
    """
    zerog = zerog_source(name_or_path)
    if zerog is not None:
        source, hub_kwargs = zerog
        local = os.path.isdir(source)
        if local:
            check_folder_symlinks(source)
        check_auto_map(source, hub_kwargs)
        overrides = {"pooling_mode": pooling_mode} if pooling_mode is not None else {}
        if template is not None:  # a name or format string sets all three kinds of text's templates; "" none
            overrides.update(template_settings(template))
        overrides.update(config_kwargs)
        config = load_zerog_config(source, hub_kwargs, **overrides)
        lm_path = local_backbone(config.lm_name_or_path) or (
            saved_folder_backbone(source, config.lm_name_or_path) if local else None
        )
        backbone = lm_path or config.lm_name_or_path
        if os.path.isdir(backbone):
            if not os.path.isfile(os.path.join(backbone, "config.json")):
                raise ValueError(
                    f"{source}/config.json: lm_name_or_path {config.lm_name_or_path!r} names the folder {backbone}, "
                    f"which holds no config.json: not a backbone folder"
                )
            check_folder_symlinks(backbone)
        if trust_remote_code:  # the folder's own copy of this project's code (auto_map checked above)
            config = AutoConfig.from_pretrained(source, trust_remote_code=True, **hub_kwargs, **overrides)
            return AutoModel.from_pretrained(
                source, config=config, trust_remote_code=True, lm_path=lm_path, dtype=dtype, **hub_kwargs
            )
        return ZeroGModel.from_pretrained(source, config=config, lm_path=lm_path, dtype=dtype, **hub_kwargs)
    if os.path.isdir(name_or_path):
        check_folder_symlinks(name_or_path)
    lm_name, lm_path, _, is_decoder = backbone_config(name_or_path)
    if template is None:
        template = DECODER_DEFAULT_TEMPLATE if is_decoder else None
    config_kwargs.setdefault("use_lora", False)
    settings = {**template_settings(template), **config_kwargs}  # a template field given apart wins
    config = ZeroGConfig(lm_name_or_path=lm_name, pooling_mode=pooling_mode or "auto", **settings)
    return ZeroGModel(config, lm_path=lm_path, dtype=dtype)
