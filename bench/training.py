"""Training step time and peak memory per backbone and precision, each in a fresh process.

    python bench/training.py [--steps 5]

Each configuration trains LoRA on Cora subgraphs (2 subgraphs of at most 15 nodes per step, 128
tokens per text) with the real collator, model and AdamW, times `--steps` steps after one warm-up
step, and reports the peak resident memory (RSS) of its process. The QLoRA rows use gradient
checkpointing, as QLoRA loading sets it up; the LoRA rows do not (`ZeroGConfig.gradient_checkpointing`
is off by default). The baseline row is MiniLM + LoRA in fp32; other rows give their ratio to it.
On a machine with CUDA the SmolLM2 4-bit and bf16 rows are also run on the GPU, with
`torch.cuda.max_memory_allocated`.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

CONFIGS = {
    "MiniLM + LoRA, fp32": ("minilm", None, "float32"),
    "SmolLM2 + LoRA, fp32": ("smollm2", None, "float32"),
    "SmolLM2 + LoRA, bf16": ("smollm2", None, "bfloat16"),
    "SmolLM2 + QLoRA, 8-bit": ("smollm2", "8bit", "float32"),
    "SmolLM2 + QLoRA, 4-bit nf4": ("smollm2", "4bit", "float32"),
}
CUDA_CONFIGS = ("SmolLM2 + LoRA, bf16", "SmolLM2 + QLoRA, 4-bit nf4")


def run_one(name: str, steps: int, device: str) -> dict:
    import torch

    from zerog_graph.collator import ZeroGCollator
    from zerog_graph.models import load_model
    from zerog_graph.registry import load_graph
    from zerog_graph.sampling import SubgraphDataset

    backbone, quantization, dtype = CONFIGS[name]
    torch.manual_seed(0)
    model = load_model(
        backbone, use_lora=True, quantization=quantization, dtype=getattr(torch, dtype), max_seq_length=128
    )
    if quantization is None:
        model.to(device)
    dataset = SubgraphDataset([load_graph("cora")], num_subgraphs=2 * (steps + 1), max_nodes=15)
    collate = ZeroGCollator(model.tokenizer, model.config.templates, model.max_length)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    times = []
    for step in range(steps + 1):
        batch = {k: v.to(device) for k, v in collate([dataset[2 * step], dataset[2 * step + 1]]).items()}
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    result = {
        "step_s": sum(times[1:]) / steps,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if device == "cuda":
        result["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.steps, args.device)))
        return 0
    import torch

    env = dict(os.environ, HF_HUB_OFFLINE=os.environ.get("HF_HUB_OFFLINE", "1"))
    env.setdefault("ZEROG_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    runs = [(name, "cpu") for name in CONFIGS]
    runs += [(name, "cuda") for name in CUDA_CONFIGS] if torch.cuda.is_available() else []
    print(
        f"{args.steps} steps after a warm-up; 2 subgraphs x <=15 nodes x <=128 tokens per step; "
        f"{torch.get_num_threads()} CPU threads; gradient checkpointing in the QLoRA rows only"
    )
    print(f"{'configuration':<30} {'device':<6} {'s/step':>7} {'vs base':>8} {'peak RSS MB':>12} {'CUDA MB':>8}")
    baseline = None
    for name, device in runs:
        out = subprocess.run(
            [sys.executable, __file__, "--one", name, "--steps", str(args.steps), "--device", device],
            capture_output=True,
            text=True,
            env=env,
        )
        if out.returncode:
            print(f"{name:<30} {device:<6} failed: {out.stderr.strip().splitlines()[-1]}")
            continue
        result = json.loads(out.stdout.strip().splitlines()[-1])
        baseline = baseline or result["step_s"]
        cuda = f"{result['cuda_peak_mb']:>8.0f}" if "cuda_peak_mb" in result else f"{'-':>8}"
        print(
            f"{name:<30} {device:<6} {result['step_s']:>7.2f} {result['step_s'] / baseline:>7.1f}x "
            f"{result['peak_rss_mb']:>12.0f} {cuda}"
        )
    if not torch.cuda.is_available():
        print("no CUDA device here: GPU rows not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
