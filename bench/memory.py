"""Backbone memory: estimated from parameter counts, and measured for SmolLM2 on this machine.

    python bench/memory.py            # estimates, then measured RSS for SmolLM2 in each precision

Estimates: weights = parameters x bits / 8, plus 4-bit's quantisation constants (double-quantised
nf4: about 0.127 extra bits per weight), plus 20% for activations, LoRA states and the CUDA context
at ZeroG's batch sizes. They are estimates, not measurements. The measured rows load SmolLM2-135M
in a fresh process per precision and report the weights' footprint and the growth of the process's
resident memory (RSS) on the CPU.
"""

import json
import subprocess
import sys

SIZES = {"0.5B": 0.49e9, "7B": 7.6e9, "70B": 70.6e9}  # Qwen2-0.5B, Qwen2-7B, Llama-3-70B parameter counts
BITS = {"16-bit": 16, "8-bit": 8, "4-bit": 4 + 0.127}
OVERHEAD = 1.2

MEASURE = r"""
import json, os, sys, psutil, torch
from configuration_zerog import ZeroGConfig
from modeling_zerog import ZeroGModel
from zerog_graph.backbones import smollm2_dir
path = str(smollm2_dir())
process = psutil.Process()
before = process.memory_info().rss
quantization, dtype = sys.argv[1] or None, getattr(torch, sys.argv[2])
model = ZeroGModel(ZeroGConfig(lm_name_or_path=path, quantization=quantization), lm_path=path, dtype=dtype)
model.encode(["a short text to run one forward pass"])
print(json.dumps({"rss_mb": (process.memory_info().rss - before) / 2**20,
                  "weights_mb": model.lm.get_memory_footprint() / 2**20}))
"""


def main():
    print("Estimated backbone memory (GB), parameters x bits / 8 x 1.2:")
    print(f"{'size':<6} " + " ".join(f"{b:>8}" for b in BITS))
    for size, params in SIZES.items():
        print(f"{size:<6} " + " ".join(f"{params * bits / 8 * OVERHEAD / 1e9:>8.1f}" for bits in BITS.values()))
    print("\nMeasured on this CPU, SmolLM2-135M + LoRA: weights in memory (get_memory_footprint) and the")
    print("process's RSS growth after loading and one forward pass, which also counts the fp32 checkpoint")
    print("pages read while quantising (MB):")
    print(f"{'precision':<10} {'weights':>8} {'RSS':>8}")
    for label, quantization, dtype in (
        ("fp32", "", "float32"),
        ("bf16", "", "bfloat16"),
        ("8-bit", "8bit", "float32"),
        ("4-bit nf4", "4bit", "float32"),
    ):
        out = subprocess.run([sys.executable, "-c", MEASURE, quantization, dtype], capture_output=True, text=True)
        if out.returncode:
            print(f"{label:<10} failed: {out.stderr.strip().splitlines()[-1]}")
            continue
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{label:<10} {result['weights_mb']:>8.0f} {result['rss_mb']:>8.0f}")


if __name__ == "__main__":
    main()
