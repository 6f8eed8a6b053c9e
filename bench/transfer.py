"""Does LoRA training transfer? Leave one graph out: train on the other graphs, classify the one left out.

    python bench/transfer.py --backbone minilm --target cora            # one target, seeds 0 and 1
    python bench/transfer.py --backbone smollm2 --target wordnet --quick  # a smoke run: 5 steps, 1 seed
    python bench/transfer.py --backbone smollm2 --target cora --train-args="--bf16 --use_cpu"  # bf16 LoRA, CPU
    python bench/transfer.py --table                                     # the table of every cell run

The graphs are cora, citeseer, dblp and wordnet (nouns). For SmolLM2 (and only there) WordNet is the
fixed 10,000-node sample of `bench.graphs.wordnet_sample`, as target and as source. Each command
evaluates the target training-free, then for each seed trains `train_hf.py` with its defaults (the
recipe) on the other three graphs and evaluates the trained model on the target.

No target label is read before the final scoring: training gets the source graphs only, with no
target (train_hf.py evaluates nothing on it), the model classifies a copy of the target whose labels
are all removed (`unlabelled`), and `score` reads the labels once, at the end. Nothing is chosen on
the target: the recipe is train_hf.py's defaults, chosen on WordNet verbs (`--validate`), a graph that
is never a target.

Each run appends one JSON line to `--results` (default bench/results/transfer.jsonl); `--table`
prints target x backbone x {training-free, trained}: accuracy and macro-F1 (mean and spread over
seeds), steps and wall time.
"""

import argparse
import copy
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import train_hf  # noqa: E402
from bench import machine  # noqa: E402
from bench.graphs import use_shared_data, wordnet_sample, wordnet_verbs  # noqa: E402
from zerog_graph.evaluate import evaluate_graph, score  # noqa: E402
from zerog_graph.models import load_model  # noqa: E402
from zerog_graph.paths import cache_dir  # noqa: E402
from zerog_graph.precision import default_dtype  # noqa: E402
from zerog_graph.registry import load_graph  # noqa: E402

GRAPHS = ("cora", "citeseer", "dblp", "wordnet")
# ZeroG's ceil(C/2), except WordNet: its 2-hop neighbourhoods of 30 nodes hold 1 class at the median and 4
# at the 90th percentile (of 26), so a subgraph with 13 is never found.
MIN_CLASSES = {"cora": 4, "citeseer": 3, "dblp": 2, "wordnet": 2}
ROUNDS_REPORTED = (2, "auto")
QUICK = ["--max_steps", "5", "--statistics_refresh_steps", "0"]


def graph_spec(name: str, backbone: str) -> str:
    """What train_hf.py is given for a graph: a registry name, or the file of a bench graph."""
    if name == "wordnet" and backbone == "smollm2":
        return str(save_graph(wordnet_sample()))
    if name == "wordnet-verbs":
        return str(save_graph(wordnet_verbs()))
    return name


def save_graph(graph) -> Path:
    """Writes a bench graph once as JSON under the ZeroG cache, so that train_hf.py can read it."""
    path = cache_dir() / "data" / "bench" / f"{graph.name}.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "name": graph.name,
            "texts": graph.texts,
            "edges": graph.edge_index[:, graph.edge_index[0] < graph.edge_index[1]].T.tolist(),
            "labels": graph.labels.tolist(),
            "label_names": graph.label_names,
            "label_texts": graph.label_texts,
            "description": graph.description,
        }
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(data), encoding="utf-8")
        os.replace(partial, path)
    return path


def unlabelled(graph):
    """A copy of `graph` with every label removed: what the model sees of a target."""
    hidden = copy.copy(graph)
    hidden.labels = torch.full_like(graph.labels, -1)
    return hidden


def leave_one_out(target: str, graphs=GRAPHS) -> list:
    """The source graphs of a target: all the others."""
    if target not in graphs:
        raise ValueError(f"unknown target {target!r}: choose one of {', '.join(graphs)}")
    return [name for name in graphs if name != target]


def train(backbone: str, sources: list, seed: int, output_dir: str, extra: list, min_classes: list) -> dict:
    """Runs train_hf.py in this process on `sources` only (no target graph), with its defaults."""
    argv = [
        "--model_name_or_path", backbone, "--source_graphs", *sources, "--output_dir", output_dir,
        "--min_classes", *map(str, min_classes),
        "--seed", str(seed), "--report_to", "none", "--save_strategy", "no", *extra,
    ]  # fmt: skip
    start = time.perf_counter()
    train_hf.main(argv)
    return {"argv": argv, "train_seconds": time.perf_counter() - start}


def predict(model_path: str, graph) -> dict:
    """The model's logits on a graph whose labels have been removed, with its own settings, and also
    with R = 2 and R = auto (`logits_by_rounds`; the embeddings are cached, so these cost little)."""
    model = load_model(model_path, dtype=default_dtype("auto"))
    result = evaluate_graph(model, graph, cache=None)
    by_rounds = {str(r): evaluate_graph(model, graph, num_rounds=r, cache=None) for r in ROUNDS_REPORTED}
    return {
        "logits": result.logits,
        "settings": result.settings,
        "logits_by_rounds": {rounds: r.logits for rounds, r in by_rounds.items()},
        "rounds_by_rounds": {rounds: r.settings["num_rounds"] for rounds, r in by_rounds.items()},
    }


def run_cell(backbone: str, target: str, seeds: list, extra: list, graphs=GRAPHS) -> list:
    """Training-free and trained zero-shot results of one target, as JSON-ready records."""
    sources = [graph_spec(name, backbone) for name in leave_one_out(target, graphs)]
    target_spec = graph_spec(target, backbone)
    hidden = unlabelled(load_graph(target_spec))
    runs = [("training-free", None, backbone, {})]
    records = []
    with tempfile.TemporaryDirectory(prefix="zerog-transfer-") as tmp:
        for seed in seeds:
            output = os.path.join(tmp, f"seed{seed}")
            min_classes = [MIN_CLASSES[name] for name in leave_one_out(target, graphs)]
            runs.append(("trained", seed, output, train(backbone, sources, seed, output, extra, min_classes)))
        for kind, seed, model_path, training in runs:
            start = time.perf_counter()
            prediction = predict(model_path, hidden)
            records.append(
                {
                    "backbone": backbone,
                    "target": target,
                    "sources": leave_one_out(target, graphs),
                    "kind": kind,
                    "seed": seed,
                    "extra": extra,
                    "settings": prediction["settings"],
                    "logits": prediction["logits"],
                    "logits_by_rounds": prediction.get("logits_by_rounds", {}),
                    "rounds_by_rounds": prediction.get("rounds_by_rounds", {}),
                    "eval_seconds": time.perf_counter() - start,
                    **{k: v for k, v in training.items() if k != "argv"},
                }
            )
    truth = load_graph(target_spec)  # the labels, read once, after every prediction is made
    for record in records:
        accuracy, macro_f1, _ = score(record.pop("logits"), truth)
        record.update(accuracy=accuracy, macro_f1=macro_f1)
        record["by_rounds"] = {
            rounds: dict(zip(("accuracy", "macro_f1"), score(logits, truth)[:2]), num_rounds=chosen)
            for (rounds, logits), chosen in zip(
                record.pop("logits_by_rounds").items(), record.pop("rounds_by_rounds").values()
            )
        }
    return records


def mean_spread(values: list) -> str:
    values = [100 * v for v in values]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def print_table(path: Path):
    """One row per backbone, target, model and extra options: mean ± spread over seeds, at R = auto (the
    default) and at R = 2."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    cells = {}
    for row in rows:
        key = (row["backbone"], row["target"], " ".join(row["extra"]), row["kind"] != "training-free")
        cells.setdefault(key, []).append(row)
    print(
        "| backbone | target | model | options | seeds | R auto | accuracy | macro-F1 | accuracy R=2 | macro-F1 R=2 "
        "| train s | eval s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (backbone, target, extra, _), group in sorted(cells.items()):
        seeds = ",".join(str(r["seed"]) for r in group if r["seed"] is not None) or "-"
        # Records written before R auto was scored hold one setting, R=2: their auto columns are "-".
        fixed = [r.get("by_rounds", {}).get("2", r) for r in group]
        auto = [r["by_rounds"]["auto"] for r in group if "by_rounds" in r]
        train_s = [r["train_seconds"] for r in group if "train_seconds" in r]
        print(
            f"| {backbone} | {target} | {group[0]['kind']} | {extra or '-'} | {seeds} | "
            f"{','.join(str(r['num_rounds']) for r in auto) or '-'} | {mean_spread([r['accuracy'] for r in auto])} | "
            f"{mean_spread([r['macro_f1'] for r in auto])} | {mean_spread([r['accuracy'] for r in fixed])} | "
            f"{mean_spread([r['macro_f1'] for r in fixed])} | {statistics.mean(train_s) if train_s else 0:.0f} | "
            f"{statistics.mean(r['eval_seconds'] for r in group):.0f} |"
        )
    print(f"machines: {'; '.join(sorted({r.get('machine', '?') for r in rows}))}")
    print_gains(cells)


def print_gains(cells: dict):
    """Per backbone and options: trained minus training-free per target (each the mean over its rows, one per
    seed run), their mean and the worst target, in points, at R auto and R = 2: the goals' figures."""

    def mean_accuracy(group, rounds):
        return 100 * statistics.mean(r["by_rounds"][str(rounds)]["accuracy"] for r in group)

    gains = {}
    for (backbone, target, extra, trained), group in cells.items():
        free = cells.get((backbone, target, extra, False), [])
        if trained and free and all("by_rounds" in r for r in group + free):
            for rounds in ROUNDS_REPORTED:
                change = mean_accuracy(group, rounds) - mean_accuracy(free, rounds)
                gains.setdefault((backbone, extra, str(rounds)), {})[target] = change
    for (backbone, extra, rounds), by_target in sorted(gains.items()):
        worst = min(by_target, key=by_target.get)
        print(
            f"{backbone} {extra or '(defaults)'} R={rounds}: trained - training-free "
            + ", ".join(f"{target} {gain:+.2f}" for target, gain in sorted(by_target.items()))
            + f"; mean {statistics.mean(by_target.values()):+.2f} over {len(by_target)}; "
            f"worst {worst} {by_target[worst]:+.2f}"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", choices=["minilm", "smollm2"], default="minilm")
    parser.add_argument("--target", choices=GRAPHS)
    parser.add_argument("--validate", action="store_true", help="train on the four graphs, score WordNet verbs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--quick", action="store_true", help="5 training steps, one seed: a smoke run")
    parser.add_argument(
        "--train-args", default="", help="extra train_hf.py options, with '=': --train-args='--learning_rate 1e-4'"
    )
    parser.add_argument("--results", type=Path, default=HERE / "results" / "transfer.jsonl")
    parser.add_argument("--table", action="store_true", help="print the table of --results and stop")
    args = parser.parse_args(argv)
    if args.table:
        print_table(args.results)
        return
    use_shared_data()  # train_hf.py and load_graph read the graphs by name
    extra = shlex.split(args.train_args) + (QUICK if args.quick else [])
    seeds = args.seeds[:1] if args.quick else args.seeds
    if args.validate:
        records = run_cell(args.backbone, "wordnet-verbs", seeds, extra, graphs=GRAPHS + ("wordnet-verbs",))
    elif args.target:
        records = run_cell(args.backbone, args.target, seeds, extra)
    else:
        parser.error("give --target, --validate or --table")
    print(f"machine: {machine()}; command: python bench/transfer.py {shlex.join(sys.argv[1:])}")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with open(args.results, "a") as f:
        for record in records:
            record["machine"] = machine()
            f.write(json.dumps(record) + "\n")
            print(
                f"{record['backbone']} {record['target']} {record['kind']} seed={record['seed']} "
                f"R={record['settings']['num_rounds']} accuracy={100 * record['accuracy']:.2f} "
                f"macro_f1={100 * record['macro_f1']:.2f} train_s={record.get('train_seconds', 0):.0f} "
                f"eval_s={record['eval_seconds']:.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
