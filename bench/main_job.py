"""The main job (`zerog eval --model minilm --graph wordnet`, empty cache) of this checkout against a baseline commit.

    python bench/main_job.py [--baseline ab1424c] [--repeats 1]

Checks the baseline out into a temporary git worktree and runs the job alternately with each checkout's code
(`PYTHONPATH`), each run with a fresh `ZEROG_CACHE` (the WordNet graph is built each time, as a new user's first
run does), offline. Prints each run's wall time, peak RSS and accuracy, and the ratio of the medians.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_job(code: Path, cache: Path, output: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code), ZEROG_CACHE=str(cache), HF_HUB_OFFLINE="1")
    env.setdefault("ZEROG_DATA", str(REPO.parent / "shared" / "data"))
    command = [sys.executable, "-m", "zerog_graph", "eval", "--model", "minilm", "--graph", "wordnet"]
    started = time.perf_counter()
    process = subprocess.Popen(command + ["--output", str(output)], env=env, stderr=subprocess.PIPE, cwd=code)
    stderr = process.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)  # this child's own peak RSS
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{code}: exit {os.waitstatus_to_exitcode(status)}\n{stderr[-2000:]}")
    result = json.loads(output.read_text())["wordnet"]
    peak = usage.ru_maxrss
    return {"wall_s": wall, "peak_rss_gb": peak / 2**20, "accuracy": result["accuracy"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="ab1424c", help="the commit to compare against")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zerog-main-job-") as work:
        work = Path(work)
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(work / "baseline"), args.baseline],
            check=True,
        )
        try:
            runs = {"baseline": [], "current": []}
            for repeat in range(args.repeats):
                for name, code in (("baseline", work / "baseline"), ("current", REPO)):
                    row = run_job(code, work / f"cache-{name}-{repeat}", work / f"{name}-{repeat}.json")
                    runs[name].append(row)
                    print(
                        f"{name:>9}: {row['wall_s']:6.1f} s, peak RSS "
                        f"{row['peak_rss_gb']:.2f} GB, accuracy {100 * row['accuracy']:.2f}%",
                        flush=True,
                    )
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(work / "baseline")])
    medians = {name: statistics.median(r["wall_s"] for r in rows) for name, rows in runs.items()}
    print(f"current / baseline wall time: {medians['current'] / medians['baseline']:.3f}")


if __name__ == "__main__":
    main()
