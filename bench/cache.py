"""A second zero-shot evaluation of Cora against the first, with a fresh embedding cache.

    python bench/cache.py

Evaluates Cora with MiniLM (fp32) twice in one process. The first run encodes 2,708 node texts
and 8 description and label texts; the second reads them from the `datasets` cache and only
propagates. Prints both times and the ratio; exits 1 below 20x.
"""

import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ZEROG_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))

import torch  # noqa: E402

from zerog_graph.cache import EmbeddingCache  # noqa: E402
from zerog_graph.evaluate import evaluate_graph  # noqa: E402
from zerog_graph.models import load_model  # noqa: E402
from zerog_graph.registry import load_graph  # noqa: E402


def main():
    model, graph = load_model("minilm", dtype=torch.float32), load_graph("cora")
    with tempfile.TemporaryDirectory() as folder:
        cache = EmbeddingCache(folder)
        times, accuracies = [], []
        for _ in range(2):
            start = time.perf_counter()
            accuracies.append(evaluate_graph(model, graph, cache=cache).accuracy)
            times.append(time.perf_counter() - start)
    assert accuracies[0] == accuracies[1]
    print(
        f"Cora, MiniLM fp32: first evaluation {times[0]:.2f} s, second (cached) {times[1]:.3f} s, "
        f"ratio {times[0] / times[1]:.0f}x (goal >= 20x); accuracy {100 * accuracies[0]:.1f}% both times"
    )
    return 0 if times[0] / times[1] >= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
