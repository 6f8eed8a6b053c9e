"""Same predictions, bit for bit: this checkout against a baseline commit on real graphs, each from an empty cache.

    python bench/identity.py [--baseline d27f98f] [--graphs cora citeseer dblp wordnet] [--model minilm]
                             [--shared-cache]

Checks the baseline out into a temporary git worktree; for each code, a fresh process (`PYTHONPATH`) with a fresh
`ZEROG_CACHE` encodes every graph and runs `evaluate_graph(..., with_cosines=True)` with the model's defaults
(`--rounds auto`), saving the scores. `--shared-cache`: one cache for both, which the baseline fills and the current
code reads (the pipeline after encoding is compared, in a third of the time). Prints, per graph, the R each chose,
whether the dot-product scores, the cosines and the predictions are equal to the bit (`torch.equal`), and each code's
wall time.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
# What each code runs: the public API only, which the baseline has too.
CHILD = """
import sys, torch
from zerog_graph import evaluate_graph, load_graph, load_model
model = load_model(sys.argv[2])
scores = {}
for name in sys.argv[3:]:
    result = evaluate_graph(model, load_graph(name), with_cosines=True)
    scores[name] = {"logits": result.logits, "cosines": result.cosines, "num_rounds": result.settings["num_rounds"]}
torch.save(scores, sys.argv[1])
"""


def run(code: Path, cache: Path, output: Path, model: str, graphs: list) -> float:
    env = dict(os.environ, PYTHONPATH=str(code), ZEROG_CACHE=str(cache), HF_HUB_OFFLINE="1")
    env.setdefault("ZEROG_DATA", str(REPO.parent / "shared" / "data"))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", CHILD, str(output), model, *graphs], env=env, cwd=code, check=True)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="d27f98f", help="the commit to compare against")
    parser.add_argument("--graphs", nargs="+", default=["cora", "citeseer", "dblp", "wordnet"])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--shared-cache", action="store_true", help="one cache, filled by the baseline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zerog-identity-") as work:
        work = Path(work)
        baseline = work / "baseline"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(baseline), args.baseline], check=True
        )
        try:
            scores, times = {}, {}
            for name, code in (("baseline", baseline), ("current", REPO)):
                cache = work / ("cache" if args.shared_cache else f"cache-{name}")
                times[name] = run(code, cache, work / f"{name}.pt", args.model, args.graphs)
                scores[name] = torch.load(work / f"{name}.pt", weights_only=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline)], check=False)
    same_everywhere = True
    for graph in args.graphs:
        before, after = scores["baseline"][graph], scores["current"][graph]
        same = {key: torch.equal(before[key], after[key]) for key in ("logits", "cosines")}
        same["predictions"] = torch.equal(before["logits"].argmax(-1), after["logits"].argmax(-1))
        same_everywhere &= all(same.values()) and before["num_rounds"] == after["num_rounds"]
        print(
            f"{graph:>9}: R {before['num_rounds']} -> {after['num_rounds']}, "
            + ", ".join(f"{key} {'identical' if equal else 'DIFFERENT'}" for key, equal in same.items())
        )
    print(f"wall time: baseline {times['baseline']:.1f} s, current {times['current']:.1f} s")
    print("bit-identical" if same_everywhere else "NOT bit-identical")
    sys.exit(0 if same_everywhere else 1)


if __name__ == "__main__":
    main()
