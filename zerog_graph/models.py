"""Builds a ZeroGModel from whatever names a model: a saved ZeroG folder, a Hub id, a local
backbone folder or a short name, using packaged local copies of backbones when they exist."""

import json
from pathlib import Path
from typing import Optional

import torch
from transformers import AutoConfig

from configuration_zerog import DEFAULT_BACKBONES, PROMPTEOL_TEMPLATE, ZeroGConfig
from modeling_zerog import ZeroGModel, is_decoder_architecture

from .backbones import local_backbone

# Template used for decoder backbones when none is given (measured in README "Choosing defaults").
DECODER_DEFAULT_TEMPLATE = PROMPTEOL_TEMPLATE


def is_zerog_folder(path: str) -> bool:
    config = Path(path) / "config.json"
    return config.exists() and json.loads(config.read_text()).get("model_type") == "zerog"


def backbone_config(name_or_path: str) -> tuple:
    """(Hub id or path, local copy or None, the backbone's config, whether it is a decoder)."""
    lm_name = DEFAULT_BACKBONES.get(name_or_path, name_or_path)
    lm_path = local_backbone(lm_name)
    try:
        lm_config = AutoConfig.from_pretrained(lm_path or lm_name)
    except OSError as error:
        raise OSError(f"Backbone {lm_name!r} is neither a local folder nor reachable on the Hub: {error}") from None
    return lm_name, lm_path, lm_config, is_decoder_architecture(lm_config)


def load_model(
    name_or_path: str,
    pooling_mode: Optional[str] = None,
    template: Optional[str] = None,
    dtype: Optional[torch.dtype] = None,
    **config_kwargs,
) -> ZeroGModel:
    """A ZeroG model: a saved one as it was saved, or a fresh one around a backbone.

    A fresh model gets no LoRA (it is evaluated training-free) unless `use_lora=True` is passed;
    decoders get `DECODER_DEFAULT_TEMPLATE` unless a template is given ("" for none).
    """
    if is_zerog_folder(name_or_path):
        overrides = {k: v for k, v in {"pooling_mode": pooling_mode, "template": template}.items() if v is not None}
        config = ZeroGConfig.from_pretrained(name_or_path, **overrides, **config_kwargs)
        return ZeroGModel.from_pretrained(
            name_or_path, config=config, lm_path=local_backbone(config.lm_name_or_path), dtype=dtype
        )
    lm_name, lm_path, _, is_decoder = backbone_config(name_or_path)
    if template is None:
        template = DECODER_DEFAULT_TEMPLATE if is_decoder else None
    config_kwargs.setdefault("use_lora", False)
    config = ZeroGConfig(
        lm_name_or_path=lm_name, pooling_mode=pooling_mode or "auto", template=template or None, **config_kwargs
    )
    return ZeroGModel(config, lm_path=lm_path, dtype=dtype)
