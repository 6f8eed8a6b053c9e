"""The GPU check: every CUDA path of the project in one run, offline, with the packaged backbones only. A smoke check,
not a benchmark: it passes or fails, and its timings are not figures that the docs cite.

    python bench/gpu_check.py                  # on CUDA (goal: under 8 minutes)
    python bench/gpu_check.py --device cpu     # dry run of the same code paths with tiny sizes

One row per check, each timed in this run:
  - SmolLM2-135M in bf16: `ZeroGModel.encode` against sentence-transformers on the same folder, dtype,
    texts and max length (no template, so both see the same tokens); and against ours in fp32 on the CPU
    (mean cosine >= 0.99);
  - SmolLM2 in 4-bit nf4 (bitsandbytes), loaded with LOCAL_RANK set to the last GPU: it must sit on that
    GPU (`device_map` from LOCAL_RANK) and agree with bf16 (mean cosine >= 0.9);
  - one QLoRA training step through `train_hf.main` (Trainer, 4-bit, bf16) on a small generated graph:
    `torch.cuda.max_memory_allocated`, and the LoRA B matrices must have moved off zero;
  - MiniLM sharded encoding through `encode_sharded`: under `accelerate launch --num_processes N` when
    there are N > 1 GPUs (or `--processes N`), else in this process; it must equal unsharded encoding;
  - the propagation benchmark's graph (ogbn-arxiv's size) on CUDA: the evaluator's path, cold and warm,
    agreeing with the cosine path wherever the cosine's top-two margin exceeds 1e-4.
Prints one table; exits 1 when any check fails, or when CUDA is asked for and absent.
"""

import argparse
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WORDS = (
    "graph node edge label paper citation network neural learning model text language embedding protein "
    "molecule database query index transaction vision image robot control theory algorithm proof kernel "
    "memory cache processor compiler security privacy market price product review user social community"
).split()


def make_texts(count: int, seed: int = 0) -> list:
    """Deterministic sentences of 8 to 64 words (no data files needed)."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 64))) for _ in range(count)]


def minilm_texts(count: int) -> list:
    """The texts of the sharded-encoding check, the same in every process."""
    return make_texts(count, seed=2)


def timed(fn, device: str):
    """(result, seconds), synchronising CUDA around the call."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def mean_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(a.float(), b.float()).mean().item()


@contextlib.contextmanager
def local_rank(rank: int):
    """LOCAL_RANK set for the block only (the Trainer reads it too)."""
    previous = os.environ.get("LOCAL_RANK")
    os.environ["LOCAL_RANK"] = str(rank)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("LOCAL_RANK")
        else:
            os.environ["LOCAL_RANK"] = previous


# --- checks: each returns (figure, error or None) ---------------------------------------------------------------


def check_bf16_encode(args, texts: list) -> tuple:
    from sentence_transformers import SentenceTransformer

    from zerog_graph.backbones import smollm2_dir
    from zerog_graph.models import load_model

    model = load_model("smollm2", template="", dtype=torch.bfloat16).to(args.device)
    st_model = SentenceTransformer(str(smollm2_dir()), device=args.device, model_kwargs={"dtype": torch.bfloat16})
    st_model.max_seq_length = model.max_length
    model.encode(texts[:32])  # warm-up, both
    st_model.encode(texts[:32], batch_size=32)
    embeds, ours_s = timed(lambda: model.encode(texts, batch_size=32), args.device)
    _, st_s = timed(lambda: st_model.encode(texts, batch_size=32), args.device)
    reference = load_model("smollm2", template="", dtype=torch.float32).encode(texts[:16])  # CPU, fp32
    agreement = mean_cosine(embeds[:16], reference)
    figure = (
        f"{len(texts) / ours_s:.1f} texts/s, sentence-transformers {len(texts) / st_s:.1f} ({st_s / ours_s:.2f}x); "
        f"cosine to CPU fp32 {agreement:.4f}"
    )
    return figure, None if agreement >= 0.99 else f"cosine to CPU fp32 {agreement:.4f} < 0.99", embeds


def check_nf4_encode(args, texts: list, bf16_embeds: torch.Tensor) -> tuple:
    from zerog_graph.models import load_model

    rank = torch.cuda.device_count() - 1 if args.device == "cuda" else 0
    with local_rank(rank):
        model = load_model("smollm2", template="", quantization="4bit")
    device = next(model.lm.parameters()).device
    expected = torch.device(f"cuda:{rank}") if args.device == "cuda" else torch.device("cpu")
    model.encode(texts[:32])
    embeds, seconds = timed(lambda: model.encode(texts, batch_size=32), str(device))
    agreement = mean_cosine(embeds, bf16_embeds)
    figure = f"LOCAL_RANK={rank} -> {device}; {len(texts) / seconds:.1f} texts/s; cosine to bf16 {agreement:.4f}"
    if device != expected:
        return figure, f"4-bit model on {device}, expected {expected}"
    return figure, None if agreement >= 0.9 else f"cosine to bf16 {agreement:.4f} < 0.9"


def toy_graph_file(folder: Path, num_nodes: int = 40) -> str:
    """A 2-class ring graph with generated texts, as a JSON graph file."""
    texts = make_texts(num_nodes, seed=1)
    edges = [[i, (i + 1) % num_nodes] for i in range(num_nodes)] + [[i, (i + 7) % num_nodes] for i in range(0, 40, 3)]
    graph = {
        "texts": texts,
        "edges": edges,
        "labels": [i * 2 // num_nodes for i in range(num_nodes)],
        "label_names": ["theory", "systems"],
        "description": "generated papers",
        "name": "toy",
    }
    path = folder / "toy.json"
    path.write_text(json.dumps(graph))
    return str(path)


def check_qlora_step(args, folder: Path) -> tuple:
    from safetensors.torch import load_file

    import train_hf
    from hub_zerog import ADAPTER_SUBFOLDER

    output = folder / "qlora"
    argv = ["--model_name_or_path", "smollm2", "--load_in_4bit", "--source_graphs", toy_graph_file(folder)]
    argv += ["--output_dir", str(output), "--max_steps", "1", "--num_subgraphs", "4", "--max_nodes", "6"]
    argv += ["--warmup_steps", "0"]  # the recipe warms up from a learning rate of 0: one step would not move
    argv += ["--max_seq_length", "48", "--per_device_train_batch_size", "2", "--learning_rate", "1e-3"]
    argv += ["--report_to", "none", "--save_strategy", "no", "--disable_tqdm", "true"]
    argv += ["--bf16"] if args.device == "cuda" else ["--use_cpu"]
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    _, seconds = timed(lambda: train_hf.main(argv), args.device)
    if args.device == "cuda":
        memory = f"max_memory_allocated {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
    else:
        memory = f"peak RSS of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB"
    adapter = load_file(output / ADAPTER_SUBFOLDER / "adapter_model.safetensors")
    lora_b = [t for name, t in adapter.items() if "lora_B" in name]
    moved = sum(t.float().abs().sum().item() for t in lora_b)
    figure = f"1 step in {seconds:.1f} s (with loading); {memory}; |LoRA B| {moved:.2e}"
    return figure, None if lora_b and moved > 0 else "the LoRA B matrices did not move: no gradient reached them"


def shard_worker(args):
    """Run under `accelerate launch`: encode sharded on this process's device, save from the main process."""
    from zerog_graph.backbones import minilm_dir
    from zerog_graph.distributed import encode_sharded, process_state
    from zerog_graph.models import load_model

    state = process_state()
    model = load_model(str(minilm_dir())).to(state.device)
    texts = minilm_texts(args.num_texts)
    embeds, seconds = timed(lambda: encode_sharded(model, texts), str(state.device))
    if state.is_main_process:
        torch.save({"embeds": embeds, "seconds": seconds, "num_processes": state.num_processes}, args.shard_worker)


def check_sharded_minilm(args, texts: list, folder: Path) -> tuple:
    from zerog_graph.backbones import minilm_dir
    from zerog_graph.distributed import encode_sharded
    from zerog_graph.models import load_model

    model = load_model(str(minilm_dir())).to(args.device)
    reference, seconds = timed(lambda: model.encode(texts), args.device)
    if args.processes == 1:
        embeds, sharded_s = timed(lambda: encode_sharded(model, texts), args.device)
        processes = 1
    else:
        output = folder / "sharded.pt"
        launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "1"]
        launch += ["--num_processes", str(args.processes), "--mixed_precision", "no", "--dynamo_backend", "no"]
        launch += [__file__, "--device", args.device, "--num-texts", str(len(texts)), "--shard-worker", str(output)]
        env = dict(os.environ, OMP_NUM_THREADS="1") if args.device == "cpu" else None
        run = subprocess.run(launch, capture_output=True, text=True, env=env, timeout=300)
        if run.returncode != 0:
            return f"{args.processes} processes", f"accelerate launch exited {run.returncode}: {run.stderr[-400:]}"
        saved = torch.load(output, weights_only=True)
        embeds, sharded_s, processes = saved["embeds"], saved["seconds"], saved["num_processes"]
    difference = (embeds - reference).abs().max().item()
    figure = (
        f"{processes} process(es): {len(texts) / sharded_s:.1f} texts/s, unsharded {len(texts) / seconds:.1f}; "
        f"max |difference| {difference:.1e}"
    )
    if processes != args.processes:
        return figure, f"{processes} processes joined, expected {args.processes}"
    return figure, None if difference < 1e-4 else f"sharded differs from unsharded by {difference:.1e}"


def check_propagation(args) -> tuple:
    from bench.propagation import NUM_EDGES, NUM_LABELS, NUM_NODES
    from propagation_zerog import zerog_logits

    num_nodes, num_edges = (NUM_NODES, NUM_EDGES) if args.device == "cuda" else (2_000, 12_000)
    generator = torch.Generator().manual_seed(0)
    edges = torch.randint(num_nodes, (2, num_edges), generator=generator)
    edge_index = torch.cat([edges, edges.flip(0)], dim=1)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]].to(args.device)
    nodes, prompt, labels = (
        torch.randn(n, 768, generator=generator).to(args.device) for n in (num_nodes, 1, NUM_LABELS)
    )

    def evaluator():
        return zerog_logits(nodes, prompt, labels, edge_index, 10, cosine=False)

    scores, cold = timed(evaluator, args.device)
    _, warm = timed(evaluator, args.device)
    cosine = zerog_logits(nodes, prompt, labels, edge_index, 10)
    top2 = cosine.topk(2, dim=-1).values
    clear = (top2[:, 0] - top2[:, 1]) > 1e-4
    differ = int(((scores.argmax(-1) != cosine.argmax(-1)) & clear).sum())
    figure = f"{num_nodes:,} nodes, R=10: {cold:.2f} s cold, {warm:.3f} s warm; {differ} clear disagreements"
    return figure, None if differ == 0 else f"{differ} nodes predicted differently from the cosine path"


# --- the run -----------------------------------------------------------------------------------------------------


def run_checks(args) -> list:
    """[(check, figure, error or None)], running every check even after a failure."""
    rows = []
    folder = Path(tempfile.mkdtemp(prefix="zerog-gpu-check-"))
    texts = make_texts(args.num_texts)

    def attempt(name, fn):
        try:
            figure, error, *rest = fn()
        except Exception as exception:  # noqa: BLE001 - every failure becomes a row
            figure, error, rest = "-", f"{type(exception).__name__}: {exception}"[:300], []
        rows.append((name, figure, error))
        return rest[0] if rest else None

    bf16_embeds = attempt("SmolLM2 bf16 encode", lambda: check_bf16_encode(args, texts))
    if bf16_embeds is None:
        rows.append(("SmolLM2 nf4 encode", "-", "skipped: needs the bf16 embeddings"))
    else:
        attempt("SmolLM2 nf4 encode, device_map", lambda: check_nf4_encode(args, texts, bf16_embeds))
    attempt("QLoRA step (train_hf.main)", lambda: check_qlora_step(args, folder))
    attempt("MiniLM sharded encode", lambda: check_sharded_minilm(args, minilm_texts(args.num_texts * 2), folder))
    attempt("propagation, arxiv size", lambda: check_propagation(args))
    return rows


def print_table(rows: list, seconds: float, goal: float):
    width = max(len(name) for name, _, _ in rows)
    print(f"{'check':<{width}}  {'status':<6}  result")
    for name, figure, error in rows:
        print(f"{name:<{width}}  {'ok' if error is None else 'FAIL':<6}  {figure}")
        if error is not None:
            print(f"{'':<{width}}  {'':<6}  {error}")
    print(f"total {seconds:.0f} s (goal < {goal:.0f} s)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--num-texts", type=int, default=None, help="SmolLM2 texts (default 2000 on CUDA, 8 on CPU)")
    parser.add_argument("--processes", type=int, default=None, help="MiniLM shards (default: GPUs, 1 on CPU)")
    parser.add_argument("--shard-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.num_texts = args.num_texts or (2000 if args.device == "cuda" else 8)
    if args.shard_worker:
        shard_worker(args)
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            f"gpu_check: CUDA is not available (torch {torch.__version__}, built for CUDA {torch.version.cuda}), "
            "so nothing was checked. `--device cpu` runs the same code paths with tiny sizes as a dry run.",
            file=sys.stderr,
        )
        return 1
    args.processes = args.processes or (torch.cuda.device_count() if args.device == "cuda" else 1)
    from importlib.metadata import version

    where = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) or "CPU (dry run)"
    print(
        f"{where}; torch {torch.__version__}, transformers {version('transformers')}, "
        f"bitsandbytes {version('bitsandbytes')}; {args.num_texts} texts"
    )
    start = time.perf_counter()
    rows = run_checks(args)
    goal = 480.0
    seconds = time.perf_counter() - start
    print_table(rows, seconds, goal)
    failed = any(error is not None for _, _, error in rows) or (args.device == "cuda" and seconds >= goal)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
