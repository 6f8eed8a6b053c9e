"""`zerog eval`: zero-shot node classification from the command line (also `python -m zerog_graph`)."""

import argparse
import json
import sys
from pathlib import Path

from .graph import GraphError
from .precision import PRECISIONS, apply_precision, default_dtype


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zerog", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    ev = commands.add_parser("eval", help="zero-shot accuracy and macro-F1 on one or more graphs")
    ev.add_argument("--model", required=True, help="short name, Hub id, local backbone folder or saved ZeroG folder")
    ev.add_argument("--graph", action="append", required=True, help="registry name or file; repeat for more graphs")
    ev.add_argument("--rounds", type=int, default=None, help="propagation rounds R (default: the model's config)")
    ev.add_argument("--pooling", choices=["auto", "last", "cls", "mean"], default=None)
    ev.add_argument("--template", default=None, help="format string with {text}; '' for none")
    ev.add_argument("--no-standardize", action="store_true", help="skip ZeroG's if_norm standardisation")
    ev.add_argument("--dtype", choices=PRECISIONS, default="auto")
    ev.add_argument("--batch-size", type=int, default=32)
    ev.add_argument("--output", type=Path, help="write results as JSON here")
    ev.add_argument("--predictions", type=Path, help="folder for one <graph>.csv of predictions per graph")
    ev.add_argument("--overwrite", action="store_true", help="replace existing --output / --predictions files")
    return parser


def refuse_overwrite(args, graphs: list):
    """Existing result files are replaced only with --overwrite."""
    paths = [args.output] if args.output else []
    if args.predictions:
        paths += [args.predictions / f"{graph.name}.csv" for graph in graphs]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not args.overwrite:
        raise ValueError(f"{', '.join(existing)} already exist(s); pass --overwrite to replace")


def run_eval(args) -> dict:
    from .cache import process_state
    from .evaluate import evaluate_graph, write_predictions
    from .models import load_model
    from .registry import load_graph

    graphs = [load_graph(g) for g in args.graph]  # fail on a bad graph before loading the model
    refuse_overwrite(args, graphs)
    model = load_model(args.model, pooling_mode=args.pooling, template=args.template, dtype=default_dtype(args.dtype))
    state = process_state()
    apply_precision(model, args.dtype, state.device)
    if model.config.quantization is None:
        model.to(state.device)
    results = {}
    for graph in graphs:
        result = evaluate_graph(
            model,
            graph,
            num_rounds=args.rounds,
            standardize=False if args.no_standardize else None,
            batch_size=args.batch_size,
            show_progress_bar=state.is_main_process,
        )
        results[graph.name] = result.to_dict()
        if args.predictions and state.is_main_process:
            args.predictions.mkdir(parents=True, exist_ok=True)
            write_predictions(args.predictions / f"{graph.name}.csv", graph, result.logits)
    if state.is_main_process:
        print(format_table(results))
        if args.output:
            args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


def format_table(results: dict) -> str:
    lines = [f"{'graph':<12} {'nodes':>7} {'accuracy':>9} {'macro-F1':>9} {'majority':>9}"]
    for name, r in results.items():
        lines.append(
            f"{name:<12} {r['num_scored']:>7} {100 * r['accuracy']:>8.1f}% {100 * r['macro_f1']:>8.1f}% "
            f"{100 * r['majority_accuracy']:>8.1f}%"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run_eval(args)
    except (GraphError, OSError, ValueError, ImportError) as error:
        print(f"zerog: error: {error}", file=sys.stderr)
        return 2
    return 0
