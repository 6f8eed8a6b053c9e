"""The precision a backbone runs in (`--dtype auto|bf16|fp16|fp32|int8`) and the int8 inference path.

`auto` picks what is fastest on the machine without changing the results (measured in README
"Benchmarks", `bench/precision.py`):
  - CUDA: bf16 where the GPU supports it, else fp32;
  - a CPU with AMX tiles: bf16 (about 2.7x fp32);
  - any other CPU: fp32. bf16 without AMX runs at about 0.6x fp32, even with AVX512-BF16.
`int8` (torch's dynamic quantisation of the backbone's `nn.Linear` layers, for CPUs with
AVX512-VNNI or AMX-INT8) is about twice as fast as fp32 on such a CPU but changed about one
prediction in ten on Cora, so it is opt-in (`--dtype int8`), never picked by `auto`.
"""

import warnings

import torch
from torch import nn

PRECISIONS = ("auto", "bf16", "fp16", "fp32", "int8")
# What `quantize_int8` does, for the embedding cache key: a change of scheme must not reuse entries.
INT8_SCHEME = "torch.ao dynamic qint8: per-channel weights, per-batch activations, LoRA layers float"
LOAD_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32, "int8": torch.float32}

# torch 2.13 deprecates eager-mode quantisation (and the quantised tensor constructors it calls) in
# favour of torchao, which is not a dependency here; those two warnings are the only ones silenced.
_DEPRECATIONS = (
    r"torch\.ao\.quantization is deprecated",
    r"torch\.quantize_per_tensor, torch\.quantize_per_channel",
)


def cpu_has_amx() -> bool:
    """AMX tiles: bf16 (and int8) matrix units, where bf16 beats fp32."""
    return torch.cpu._is_amx_tile_supported()


def cpu_has_int8_dot() -> bool:
    """AVX512-VNNI (present on every CPU with AMX-INT8 too): int8 dot products for fbgemm/onednn."""
    return torch.cpu._is_vnni_supported()


def auto_float_precision() -> str:
    """The float precision `auto` loads in: bf16 on CUDA with bf16 and on CPUs with AMX, else fp32."""
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_amx() else "fp32"


def default_dtype(name: str) -> torch.dtype:
    """The dtype to load the backbone in for `--dtype name`; int8 loads fp32 and is quantised after
    (`apply_precision`)."""
    if name not in PRECISIONS:
        raise ValueError(f"--dtype {name!r} is not one of {', '.join(PRECISIONS)}")
    return LOAD_DTYPES[auto_float_precision() if name == "auto" else name]


def quantize_int8(model):
    """Replaces the backbone's `nn.Linear` layers, in place, with dynamically quantised int8 ones
    (weights int8 per output channel, activations quantised per batch); LoRA layers stay float so that the
    adapter's weights still key the embedding cache. For inference on the CPU only."""
    if model.config.quantization is not None:
        raise ValueError(f"--dtype int8 cannot be combined with quantization={model.config.quantization!r}")
    if next(model.lm.parameters()).device.type != "cpu":
        raise ValueError("--dtype int8 runs on the CPU only (torch dynamic quantisation); use bf16 on a GPU")
    targets = {
        name: torch.ao.quantization.per_channel_dynamic_qconfig
        for name, module in model.lm.named_modules()
        if type(module) is nn.Linear and "lora_" not in name
    }
    with warnings.catch_warnings():
        for message in _DEPRECATIONS:
            warnings.filterwarnings("ignore", message=message)
        torch.ao.quantization.quantize_dynamic(model.lm.float(), targets, dtype=torch.qint8, inplace=True)
    return model


def is_int8(model) -> bool:
    return any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in model.lm.modules())


def precision_of(model) -> str:
    """What the backbone computes in: `int8`, the bitsandbytes quantisation, or its parameters' dtype."""
    if is_int8(model):
        return "int8"
    if model.config.quantization is not None:
        return model.config.quantization
    return str(next(model.lm.parameters()).dtype).removeprefix("torch.")


def apply_precision(model, name: str, device=None) -> str:
    """Quantises `model` to int8 where `--dtype name` asks for it (on `device`, which must be the CPU);
    returns the precision the model now runs in."""
    if name == "int8":
        if torch.device(device or "cpu").type != "cpu":
            raise ValueError(f"--dtype int8 runs on the CPU only (torch dynamic quantisation), not on {device}")
        quantize_int8(model)
    return precision_of(model)
