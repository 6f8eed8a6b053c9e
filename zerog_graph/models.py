"""Builds a ZeroGModel from whatever names a model: a saved ZeroG folder, a Hub id, a local
backbone folder or a short name, using packaged local copies of backbones when they exist."""

import os
from typing import Optional

import torch
from transformers import AutoConfig, AutoModel

from backbone_zerog import is_decoder_architecture, load_backbone_config
from checks_zerog import REFUSED_LOADING_KWARGS, check_device, loading_options
from configuration_zerog import DECODER_DEFAULT_TEMPLATE, FIELD_TYPES, ZeroGConfig, template_settings
from hub_zerog import check_backbone_folder, check_folder_symlinks, one_line, read_saved_folder, saved_folder_backbone
from modeling_zerog import ZeroGModel, check_movable

from .backbones import hub_id, local_backbone


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
        check_movable(device, model.config)
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
    refused. `trust_remote_code=True` loads a ZeroG folder with its own copy of its code files
    instead. Backbones never run code from their folder or repository. A local model or backbone
    folder holding a symlink that leaves it is refused (`hub_zerog.check_folder_symlinks`).
    """
    saved = read_saved_folder(name_or_path)  # config.json read once; symlinks and auto_map checked
    if saved is not None:
        source, hub_kwargs = saved.source, saved.hub_kwargs
        overrides = {"pooling_mode": pooling_mode} if pooling_mode is not None else {}
        if template is not None:  # a name or format string sets all three kinds of text's templates; "" none
            overrides.update(template_settings(template))
        overrides.update(config_kwargs)
        try:
            config = ZeroGConfig.from_dict({**saved.config, **overrides})
        except (TypeError, ValueError) as error:
            raise ValueError(f"{source}/config.json: {error}") from None
        lm_path = local_backbone(config.lm_name_or_path) or (
            saved_folder_backbone(source, config.lm_name_or_path) if saved.local else None
        )
        if os.path.isdir(lm_path or config.lm_name_or_path):
            where = f"{source}/config.json: lm_name_or_path {config.lm_name_or_path!r}"
            check_backbone_folder(lm_path or config.lm_name_or_path, where)
        if trust_remote_code:  # the folder's own copy of this project's code (auto_map checked above)
            config = AutoConfig.from_pretrained(source, trust_remote_code=True, **hub_kwargs, **overrides)
            return AutoModel.from_pretrained(
                source, config=config, trust_remote_code=True, lm_path=lm_path, dtype=dtype, **hub_kwargs
            )
        return ZeroGModel.from_pretrained(source, config=config, lm_path=lm_path, dtype=dtype, **hub_kwargs)
    if os.path.isdir(name_or_path):
        check_folder_symlinks(name_or_path)
    lm_name, lm_path, lm_config, is_decoder = backbone_config(name_or_path)
    if template is None:
        template = DECODER_DEFAULT_TEMPLATE if is_decoder else None
    config_kwargs.setdefault("use_lora", False)
    settings = {**template_settings(template), **config_kwargs}  # a template field given apart wins
    config = ZeroGConfig(lm_name_or_path=lm_name, pooling_mode=pooling_mode or "auto", **settings)
    return ZeroGModel(config, lm_path=lm_path, dtype=dtype, lm_config=lm_config)
