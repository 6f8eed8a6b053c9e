"""Graphs of 100k to millions of nodes: time per node, peak memory, cache size, resume after a kill, reuse.

    python bench/scale.py [--sizes 100000 1000000 4000000] [--minilm 100000] [--resume 100000] [--edit 100000]
                          [--batch-size 32] [--output bench/results/scale.json]

Synthetic graphs (30-word texts drawn from MiniLM's vocabulary, 5 random edges per node, made two-way, 5 classes),
built in memory through the Python API (`TextGraph` with an `edge_index` tensor: no Python object per edge). Each
run is a fresh process (`--run`), so that its peak RSS is its own, and classifies the graph with `--rounds auto`
from an empty embedding cache. The backbone is a tiny BERT (1 layer, 32 wide, MiniLM's tokenizer): the model costs
almost nothing, so the figures are the pipeline's own (tokenising, batching, shards, propagation); `--minilm N`
runs MiniLM too, in `--dtype` (default auto).

- each size: wall time per node, encoding rate (nodes/s), peak RSS and cache size;
- `--resume N`: a run killed (SIGKILL) once half of the texts are in the cache, then rerun: the work of both (texts
  encoded, counted per batch) against one uninterrupted run's, and whether the predictions are identical;
- `--edit N`: 1% of the texts edited after a run: the texts that the rerun encodes.
Ratios are against the smallest size of the same run. State the CPU beside any figure (`lscpu`).
"""

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from zerog_graph.backbones import minilm_dir  # noqa: E402

WORDS_PER_TEXT, EDGES_PER_NODE, NUM_CLASSES = 30, 5, 5


def tiny_backbone(folder: Path) -> Path:
    """A 1-layer, 32-wide random BERT with MiniLM's tokenizer, saved once."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    if not (folder / "config.json").exists():
        torch.manual_seed(0)
        config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
        BertModel(config).save_pretrained(folder)
        AutoTokenizer.from_pretrained(minilm_dir()).save_pretrained(folder)
    return folder


def synthetic_graph(num_nodes: int, edited: float = 0.0, seed: int = 0):
    """`num_nodes` texts of 30 words, 5 random edges per node; `edited` of the texts get one word more."""
    from transformers import AutoTokenizer

    from zerog_graph.graph import TextGraph

    vocabulary = [w for w in AutoTokenizer.from_pretrained(minilm_dir()).vocab if w.isalpha() and len(w) > 2]
    vocabulary = np.array(sorted(vocabulary))
    rng = np.random.default_rng(seed)
    texts = []
    for start in range(0, num_nodes, 20_000):  # words drawn in slices: memory follows the texts, not the draws
        words = vocabulary[rng.integers(0, len(vocabulary), (min(20_000, num_nodes - start), WORDS_PER_TEXT))]
        texts += [" ".join(row) for row in words]
    for node in rng.choice(num_nodes, int(edited * num_nodes), replace=False) if edited else []:
        texts[node] += " revised"
    labels = torch.from_numpy(rng.integers(0, NUM_CLASSES, num_nodes))
    return TextGraph(
        texts=texts,
        edge_index=random_edges(num_nodes, rng),  # held by the graph alone
        labels=labels,
        label_names=[f"topic {name}" for name in "abcde"],
        description="synthetic documents",
        name=f"synthetic{num_nodes}",
    )


def random_edges(num_nodes: int, rng) -> torch.Tensor:
    """`[2, 5N]`: each node's 5 edges to random nodes."""
    edge_index = torch.empty(2, num_nodes * EDGES_PER_NODE, dtype=torch.long)
    edge_index[0] = torch.arange(num_nodes).repeat_interleave(EDGES_PER_NODE)
    edge_index[1] = torch.from_numpy(rng.integers(0, num_nodes, num_nodes * EDGES_PER_NODE))
    return edge_index


def run(args):
    """One measured run (a child process): prints a JSON line."""
    from zerog_graph.cache import EmbeddingCache
    from zerog_graph.evaluate import evaluate_graph
    from zerog_graph.models import load_model
    from zerog_graph.precision import default_dtype

    started = time.perf_counter()
    model = load_model(args.model, dtype=default_dtype(args.dtype))
    graph = synthetic_graph(args.run, args.edited)
    built = time.perf_counter()
    encoded, embed = [0], model.embed
    progress = os.open(args.progress, os.O_WRONLY | os.O_CREAT) if args.progress else None

    def counted(input_ids, attention_mask):
        encoded[0] += input_ids.size(0)
        if progress is not None:
            os.pwrite(progress, f"{encoded[0]:>12}".encode(), 0)
        return embed(input_ids, attention_mask)

    model.embed = counted
    result = evaluate_graph(model, graph, cache=EmbeddingCache(args.cache), batch_size=args.batch_size)
    done = time.perf_counter()
    if args.predictions:
        np.save(args.predictions, result.logits.argmax(-1).numpy())
    cache_bytes = sum(f.stat().st_size for f in Path(args.cache).rglob("*") if f.is_file())
    print(
        json.dumps(
            {
                "nodes": args.run,
                "encoded": encoded[0],
                "build_s": built - started,
                "classify_s": done - built,
                "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                "cache_gb": cache_bytes / 2**30,
                "num_rounds": result.settings["num_rounds"],
            }
        )
    )


def child(model, nodes, cache, batch_size, dtype="fp32", **options) -> subprocess.Popen:
    command = [sys.executable, __file__, "--run", str(nodes), "--model", str(model), "--cache", str(cache)]
    command += ["--dtype", dtype]
    command += ["--batch-size", str(batch_size)]
    for key, value in options.items():
        command += [f"--{key}", str(value)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def measured(process) -> dict:
    out, _ = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"run failed ({process.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def show(row: dict, base: dict):
    per_node = row["classify_s"] / row["nodes"] * 1e6
    ratio = per_node / (base["classify_s"] / base["nodes"] * 1e6)
    print(
        f"{row['label']:>22} {row['nodes']:>9,} {per_node:>9.1f} us {row['nodes'] / row['classify_s']:>9,.0f}/s "
        f"{ratio:>6.2f}x {row['peak_rss_gb']:>7.2f} GiB {row['cache_gb']:>7.3f} GiB  R={row['num_rounds']}",
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000, 4_000_000])
    parser.add_argument("--minilm", type=int, default=0, help="also MiniLM on a graph of this size")
    parser.add_argument("--resume", type=int, default=0, help="kill-and-resume check on a graph of this size")
    parser.add_argument("--edit", type=int, default=0, help="1%%-edited rerun on a graph of this size")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dtype", default="auto", help="MiniLM's dtype (the tiny backbone runs in fp32)")
    parser.add_argument("--output", help="write the figures as JSON here")
    parser.add_argument("--run", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    parser.add_argument("--edited", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--progress", help=argparse.SUPPRESS)
    parser.add_argument("--predictions", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        return run(args)
    work = Path(tempfile.mkdtemp(prefix="zerog-scale-"))
    tiny = tiny_backbone(work / "tiny")
    rows = []
    print(f"{'':>22} {'nodes':>9} {'per node':>12} {'rate':>11} {'ratio':>7} {'peak RSS':>10} {'cache':>10}")
    try:
        for size in args.sizes:
            row = measured(child(tiny, size, work / f"cache{size}", args.batch_size))
            rows.append({**row, "label": "tiny backbone"})
            show(rows[-1], rows[0])
            shutil.rmtree(work / f"cache{size}")
        if args.minilm:
            row = measured(child(minilm_dir(), args.minilm, work / "minilm", args.batch_size, dtype=args.dtype))
            rows.append({**row, "label": "MiniLM"})
            show(rows[-1], rows[-1])
        if args.resume:
            rows.append(resume_check(tiny, args.resume, work, args.batch_size))
        if args.edit:
            cache = work / "edit"
            measured(child(tiny, args.edit, cache, args.batch_size))
            row = measured(child(tiny, args.edit, cache, args.batch_size, edited=0.01))
            print(
                f"1% of {args.edit:,} texts edited: the rerun encoded {row['encoded']:,} texts "
                f"({100 * row['encoded'] / args.edit:.2f}% of the nodes)"
            )
            rows.append({**row, "label": "1% edited rerun"})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.output:
        Path(args.output).write_text(json.dumps(rows, indent=1) + "\n")


def resume_check(tiny, size, work, batch_size) -> dict:
    """SIGKILL once half the texts are encoded, rerun; against an uninterrupted run."""
    whole = measured(child(tiny, size, work / "whole", batch_size, predictions=work / "whole.npy"))
    progress = work / "progress"
    killed = child(tiny, size, work / "killed", batch_size, progress=progress)
    while killed.poll() is None:
        text = progress.read_text() if progress.exists() else ""
        if text.strip() and int(text) >= size // 2:
            killed.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    killed.wait()
    before = int(progress.read_text())
    again = measured(child(tiny, size, work / "killed", batch_size, predictions=work / "again.npy"))
    same = bool(np.array_equal(np.load(work / "whole.npy"), np.load(work / "again.npy")))
    work_ratio = (before + again["encoded"]) / whole["encoded"]
    print(
        f"killed at {before:,} of {whole['encoded']:,} texts, the rerun encoded {again['encoded']:,}: "
        f"{work_ratio:.3f}x the work of one run; predictions identical: {same}"
    )
    return {
        "label": "resume",
        "killed_at": before,
        "rerun_encoded": again["encoded"],
        "work_ratio": work_ratio,
        "identical": same,
        "nodes": size,
    }


if __name__ == "__main__":
    main()
