"""What `--report DIR` adds to the warm-cache main job (`zerog eval --model minilm --graph wordnet`): time, memory.

    python bench/report.py [--graph wordnet] [--repeats 2]

Runs the job once to warm the cache (not counted), then alternately without and with `--report`, each run a fresh
process of this checkout's code (`PYTHONPATH`), offline, with the usual cache (`ZEROG_CACHE`). Prints each run's
wall time and peak RSS (the child's own, `wait4`), the medians' differences and the CPU model (`lscpu`). Time on
an idle machine: a busy second process slows torch's threads by several times (docs/benchmarks.md).
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


def cpu_model() -> str:
    lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name")), "unknown")


def run_job(graph: str, report) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    env.setdefault("ZEROG_DATA", str(REPO.parent / "shared" / "data"))
    command = [sys.executable, "-m", "zerog_graph", "eval", "--model", "minilm", "--graph", graph]
    command += ["--report", str(report), "--overwrite"] if report else []
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    stdout, stderr = (stream.read().decode(errors="replace") for stream in (process.stdout, process.stderr))
    _, status, usage = os.wait4(process.pid, 0)  # this child's own peak RSS
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"exit {os.waitstatus_to_exitcode(status)}\n{stderr[-2000:]}")
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "table": stdout.splitlines()[1]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="wordnet", help="the graph of the job (default: wordnet)")
    parser.add_argument("--repeats", type=int, default=2, help="pairs of runs, without and with the report")
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="zerog-report-") as work:
        report = Path(work) / "report"
        print(f"warm-up: {run_job(args.graph, None)['wall_s']:.1f} s", flush=True)
        runs = {"without": [], "with": []}
        for _ in range(args.repeats):
            for name in ("without", "with"):
                row = run_job(args.graph, report if name == "with" else None)
                runs[name].append(row)
                print(f"{name:>8} --report: {row['wall_s']:6.2f} s, peak RSS {row['peak_rss_mb']:7.1f} MB", flush=True)
        print(runs["with"][-1]["table"])
        seconds = {name: statistics.median(r["wall_s"] for r in rows) for name, rows in runs.items()}
        peaks = {name: statistics.median(r["peak_rss_mb"] for r in rows) for name, rows in runs.items()}
        print(
            f"median: {seconds['without']:.2f} s without, {seconds['with']:.2f} s with: added "
            f"{seconds['with'] - seconds['without']:+.2f} s, peak RSS added {peaks['with'] - peaks['without']:+.1f} MB"
        )


if __name__ == "__main__":
    main()
