"""`--dtype auto` against the explicit dtypes, whole process: is `auto` at most 1.10x the faster of bf16 and fp32?

    python bench/dtype_auto.py [--model minilm] [--graph cora] [--nodes 400] [--repeats 3]

Writes the first `--nodes` nodes of `--graph` to a `.pt` graph file, then times `python -m zerog_graph eval`
on it with `--dtype auto`, `bf16` and `fp32`, interleaved, `--repeats` times each, every run with an empty
cache (`ZEROG_CACHE` and the CPU probe's record fresh: the probe runs as on a first command). Prints the
median wall time of each, the ratio of `auto` to the faster explicit dtype, the dtype `auto` chose, the CPU
and its bf16 flags. Exits 1 when the ratio exceeds 1.10.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ZEROG_DATA", str(REPO.parent / "shared" / "data"))
sys.path.insert(0, str(REPO))

from zerog_graph.precision import auto_float_precision, cpu_flags, cpu_name  # noqa: E402
from zerog_graph.registry import load_graph  # noqa: E402

LIMIT = 1.10


def write_small_graph(name: str, nodes: int, path: Path) -> str:
    """The first `nodes` nodes of a registry graph as a ZeroG `.pt` file (a PyG `Data`, docs/formats.md)."""
    import torch
    from torch_geometric.data import Data

    graph = load_graph(name)
    graph = graph.subgraph(torch.arange(min(nodes, graph.num_nodes)))
    data = Data(raw_texts=graph.texts, y=graph.labels, edge_index=graph.edge_index, label_name=graph.label_names)
    torch.save(data, path)
    return str(path)


def timed_run(model: str, graph: str, dtype: str, folder: Path) -> float:
    """Seconds of one `zerog eval` process with an empty cache."""
    cache = Path(tempfile.mkdtemp(dir=folder))
    env = dict(os.environ, ZEROG_CACHE=str(cache), PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "zerog_graph", "eval", "--model", model, "--graph", graph, "--dtype", dtype]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--graph", default="cora")
    parser.add_argument("--nodes", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        graph = write_small_graph(args.graph, args.nodes, folder / f"{args.graph}_{args.nodes}.pt")
        times = {"auto": [], "bf16": [], "fp32": []}
        for _ in range(args.repeats):
            for dtype in times:
                times[dtype].append(timed_run(args.model, graph, dtype, folder))
    median = {dtype: statistics.median(values) for dtype, values in times.items()}
    faster = min(("bf16", "fp32"), key=median.get)
    ratio = median["auto"] / median[faster]
    flags = cpu_flags() or set()
    print(f"CPU: {cpu_name()}; bf16 flags: {sorted(flags & {'avx512_bf16', 'amx_bf16'}) or 'none'}")
    print(f"{args.model} on {args.nodes} {args.graph} nodes, `zerog eval`, empty cache, median of {args.repeats}:")
    for dtype, value in median.items():
        print(f"  --dtype {dtype:<5} {value:6.1f} s  ({value / median[faster]:.2f}x {faster})")
    print(f"auto chose {auto_float_precision()}; auto / {faster} = {ratio:.2f} (goal <= {LIMIT})")
    return 0 if ratio <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
