"""The precision a backbone runs in (`--dtype auto|bf16|fp16|fp32|int8`) and the int8 inference path.

`auto` picks what is fastest on the machine without changing the results (measured in
docs/benchmarks.md, `bench/precision.py`):
  - CUDA: bf16 where the GPU supports it, else fp32;
  - a CPU with AMX tiles: bf16 (about 2.7x fp32);
  - a CPU with AVX512-BF16 but no AMX: bf16 only where a short timed probe finds a bf16 matrix product
    faster than fp32 (`cpu_bf16_speedup`, run once per machine and cached). It differs by CPU: about
    0.6x on a Xeon without AMX, 2.8x on an AMD EPYC with AVX512-BF16;
  - any other CPU (no `avx512_bf16` / `amx_bf16` flag in /proc/cpuinfo, e.g. an AVX512-VNNI-only Xeon,
    where bf16 runs about 2.7x slower than fp32): fp32, with no probe.
`int8` (`Int8Linear`: the backbone's `nn.Linear` weights in int8, one scale per output channel, dequantised
in the matmul) keeps the embeddings within a cosine of 0.999 of fp32's in a quarter of the weights' memory,
at about fp32's speed (`bench/studies/int8.py`); it is opt-in (`--dtype int8`), never picked by `auto`.
"""

import json
import time
from pathlib import Path

import torch
from torch import nn

from .paths import cache_dir

PRECISIONS = ("auto", "bf16", "fp16", "fp32", "int8")
# What `quantize_int8` does, for the embedding cache key: a change of scheme must not reuse entries.
INT8_SCHEME = "Int8Linear: int8 weights per output channel (absmax), float activations, LoRA layers float"
LOAD_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32, "int8": torch.float32}


def cpu_flags():
    """The CPU's feature flags as the kernel reports them (`/proc/cpuinfo`), or None where there is no such file.
    They are what the OS lets programs use: a VM's CPUID may claim more (torch's own checks read CPUID)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return None
    lines = cpuinfo.read_text(errors="replace").splitlines()
    return set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))


def cpu_flag(name: str, torch_check) -> bool:
    """Whether the CPU has feature `name`: torch's check, and the kernel's flag where the kernel lists flags."""
    flags = cpu_flags()
    return torch_check() and (flags is None or name in flags)


def cpu_has_amx() -> bool:
    """AMX tiles: bf16 (and int8) matrix units, where bf16 beats fp32."""
    return cpu_flag("amx_bf16", torch.cpu._is_amx_tile_supported)


def cpu_has_int8_dot() -> bool:
    """AVX512-VNNI (present on every CPU with AMX-INT8 too): int8 dot products for fbgemm/onednn."""
    return torch.cpu._is_vnni_supported()


def cpu_has_bf16_dot() -> bool:
    """AVX512-BF16: bf16 dot products, which may or may not beat fp32 (see `cpu_bf16_speedup`)."""
    return cpu_flag("avx512_bf16", torch.cpu._is_avx512_bf16_supported)


# The probe: a MiniLM feed-forward product on a batch of short texts. bf16 must beat fp32 by this much.
PROBE_SHAPE = (512, 384, 1536)
BF16_MIN_SPEEDUP = 1.2


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text(errors="replace").splitlines() if cpuinfo.exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")


def time_matmul(dtype: torch.dtype, repeats: int = 8) -> float:
    """Best seconds of one `PROBE_SHAPE` matrix product in `dtype` on the CPU."""
    rows, inner, cols = PROBE_SHAPE
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(rows, inner, generator=generator).to(dtype)
    w = torch.randn(inner, cols, generator=generator).to(dtype)
    best = float("inf")
    for _ in range(repeats + 2):  # the first two warm up
        start = time.perf_counter()
        x @ w
        best = min(best, time.perf_counter() - start)
    return best


def cpu_bf16_speedup() -> float:
    """fp32 time over bf16 time of the probe's matrix product on this CPU. Timed once per machine (CPU
    name, torch version, threads) and kept in `$ZEROG_CACHE/cpu_probe.json`; about 0.1 s."""
    key = f"{cpu_name()} | torch {torch.__version__} | {torch.get_num_threads()} threads"
    path = cache_dir() / "cpu_probe.json"
    try:
        probes = json.loads(path.read_text(encoding="utf-8"))
        speedup = float(probes[key]["bf16_speedup"])
        if speedup > 0:
            return speedup
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        probes = None
    speedup = time_matmul(torch.float32) / time_matmul(torch.bfloat16)
    probes = probes if isinstance(probes, dict) else {}
    probes[key] = {"bf16_speedup": round(speedup, 3), "shape": list(PROBE_SHAPE)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(probes, indent=2) + "\n", encoding="utf-8")
    except OSError:  # an unwritable cache: probe again next time
        pass
    return speedup


def auto_float_precision() -> str:
    """The float precision `auto` loads in: bf16 on CUDA with bf16, on CPUs with AMX, and on CPUs with
    AVX512-BF16 where the probe finds bf16 faster; else fp32."""
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if cpu_has_amx():
        return "bf16"
    return "bf16" if cpu_has_bf16_dot() and cpu_bf16_speedup() >= BF16_MIN_SPEEDUP else "fp32"


def default_dtype(name: str) -> torch.dtype:
    """The dtype to load the backbone in for `--dtype name`; int8 loads fp32 and is quantised after
    (`apply_precision`)."""
    if name not in PRECISIONS:
        raise ValueError(f"--dtype {name!r} is not one of {', '.join(PRECISIONS)}")
    return LOAD_DTYPES[auto_float_precision() if name == "auto" else name]


class Int8Linear(nn.Module):
    """A `nn.Linear` for inference with int8 weights, one scale per output channel (its largest |weight| / 127),
    dequantised in the matmul; activations stay float. Plain torch operations: torch.ao's eager quantisation is
    deprecated in torch 2.13, torchao is not a dependency."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny) / 127
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("weight_int8", torch.round(weight / scale[:, None]).to(torch.int8))
        self.register_buffer("scale", scale)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight_int8.to(x.dtype) * self.scale[:, None].to(x.dtype)
        return nn.functional.linear(x, weight, None if self.bias is None else self.bias.to(x.dtype))


def quantize_int8(model):
    """Replaces the backbone's `nn.Linear` layers, in place, with `Int8Linear` (weights int8 per output channel);
    LoRA layers stay float so that the adapter's weights still key the embedding cache. For the CPU only."""
    if model.config.quantization is not None:
        raise ValueError(f"--dtype int8 cannot be combined with quantization={model.config.quantization!r}")
    if next(model.lm.parameters()).device.type != "cpu":
        raise ValueError("--dtype int8 runs on the CPU only; use bf16 on a GPU")
    model.lm.float()
    targets = [name for name, module in model.lm.named_modules() if type(module) is nn.Linear and "lora_" not in name]
    for name in targets:
        parent, _, child = name.rpartition(".")
        owner = model.lm.get_submodule(parent)
        setattr(owner, child, Int8Linear(getattr(owner, child)))
    return model


def is_int8(model) -> bool:
    return any(isinstance(m, Int8Linear) for m in model.lm.modules())


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
