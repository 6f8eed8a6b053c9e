"""The backbone: encoder or decoder, in scope or not, its LoRA targets, and loading it (quantised, with LoRA or
an adapter) without running code from its source. Travels to the Hub with the model."""

import importlib.util
import logging as std_logging
import os
import warnings
from typing import Optional, Union

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForTextEncoding,
    BitsAndBytesConfig,
)
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
    MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    MODEL_FOR_TEXT_ENCODING_MAPPING_NAMES,
)
from transformers.utils import logging

try:
    from .configuration_zerog import DEFAULT_LORA_RANK, MAX_LAYERS, ZeroGConfig
    from .hub_zerog import ADAPTER_SUBFOLDER, check_adapter_config, hub_file, one_line
except ImportError:  # imported as a top-level module rather than as Hub remote code
    from configuration_zerog import DEFAULT_LORA_RANK, MAX_LAYERS, ZeroGConfig
    from hub_zerog import ADAPTER_SUBFOLDER, check_adapter_config, hub_file, one_line

# Under transformers' logger, as modeling_zerog.py's, so that `TRANSFORMERS_VERBOSITY` decides what is shown.
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


# A backbone config asking for more than MAX_LAYERS layers is refused before any weight is allocated.
LAYER_COUNT_FIELDS = ("num_hidden_layers", "num_layers", "n_layer", "num_decoder_layers")


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


def backbone_hub_kwargs(config: ZeroGConfig, lm_path: Optional[str], hub_kwargs: dict) -> dict:
    """The download options of the backbone: the ZeroG repository's, with the backbone's own revision
    (none for a local copy)."""
    return {**hub_kwargs, "revision": None if lm_path else config.lm_revision}


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
    lm_config=None,
):
    """Load the backbone from its own source, quantised if asked, with LoRA attached if asked; `lm_config` is its
    config where the caller loaded it already (`load_backbone_config`).

    `hub_kwargs` (`HUB_KWARGS`) are the ZeroG repository's download options: the adapter loads with all
    of them, the backbone with all but `revision` (it has `config.lm_revision`). Weights load from
    safetensors only, and no code from either source runs. Without LoRA the backbone is frozen."""
    hub_kwargs = hub_kwargs or {}
    path = lm_path or config.lm_name_or_path
    lm_kwargs = backbone_hub_kwargs(config, lm_path, hub_kwargs)
    lm_config = lm_config or load_backbone_config(path, **lm_kwargs)
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
