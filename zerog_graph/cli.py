"""`zerog eval` and `zerog predict`: zero-shot node classification from the command line (also
`python -m zerog_graph`)."""

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

from checks_zerog import class_pair, same_names
from configuration_zerog import (
    LABEL_STATISTICS,
    POOLING_HELP,
    POOLING_MODES,
    PROPAGATIONS,
    TEMPLATES,
    check_num_rounds,
)

from .console import percent, quiet_progress_bars, terminate_as_interrupt
from .graph import GraphError
from .io import check_regular_file
from .precision import PRECISIONS, apply_precision, default_dtype


def rounds(value: str):
    """An argparse type: `auto` or an integer in [0, MAX_ROUNDS], checked by the config's own rule."""
    try:
        return check_num_rounds(value, "rounds", text=True)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def positive_int(value: str) -> int:
    """An argparse type: an integer >= 1."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive; give 1 or more")
    return number


def argv_text(value: str) -> str:
    """A command-line value as text. Under a locale that is not UTF-8 (`LC_ALL=C PYTHONUTF8=0`) Python hands
    over UTF-8 bytes as surrogate escapes (`caf\\udcc3\\udca9`); they are decoded back here."""
    if not any("\udc80" <= char <= "\udcff" for char in value):
        return value
    try:
        return os.fsencode(value).decode("utf-8")
    except UnicodeError:
        raise argparse.ArgumentTypeError(f"{ascii(value)} is not UTF-8 text") from None


def class_names(value: str, what: str = "class name") -> list:
    """An argparse type: class names (or other texts, one per class: `what`) as "a,b,c", or a text file (`.txt`,
    or any existing file) with one name per line; blank lines are skipped, and empty or repeated names refused."""
    path = Path(value)
    if path.exists() and not path.is_file() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: not a regular file (a device, pipe or socket is never read)")
    if not path.exists() and "," not in value:  # a typo'd file name would become one class named like it
        raise argparse.ArgumentTypeError(
            f"cannot read {what}s from {value}: no such file; give two or more as a,b,c, or an existing file with one"
            " per line"
        )
    if path.is_file() or path.suffix == ".txt":
        try:
            names = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as error:
            raise argparse.ArgumentTypeError(f"cannot read {what}s from {value}: {error}") from None
    else:
        names = [name.strip() for name in argv_text(value).split(",")]
    where = f"{value}" if path.is_file() else repr(argv_text(value))
    if not names or "" in names:
        raise argparse.ArgumentTypeError(f"{where}: empty {what}; give them as a,b,c or a file, one per line")
    if len(names) == 1:
        raise argparse.ArgumentTypeError(
            f"{where}: one {what} ({names[0]!r}); zero-shot classification needs two or more classes (a,b,c)"
        )
    pair = same_names(names)
    if pair is not None:
        raise argparse.ArgumentTypeError(f"{where}: {class_pair(*(names[i] for i in pair))}")
    return names


def label_texts(value: str) -> list:
    """An argparse type: one text per class, in the order of the classes, as `class_names` reads them."""
    return class_names(value, "label text")


def description(value: str) -> str:
    """An argparse type: the prompt node's text, or, as `--label-texts` reads one, an existing file holding it."""
    path = Path(value)
    if not os.path.lexists(path):
        return argv_text(value)
    try:
        check_regular_file(path)
        text = path.read_text(encoding="utf-8-sig").strip()
    except (GraphError, OSError, UnicodeDecodeError) as error:
        raise argparse.ArgumentTypeError(f"cannot read the description from {value}: {error}") from None
    if not text:
        raise argparse.ArgumentTypeError(f"{value}: the description file is empty")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zerog", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    ev = argparse.ArgumentParser(add_help=False)  # the options both commands share
    ev.add_argument("--model", required=True, help="short name, Hub id, local backbone folder or saved ZeroG folder")
    ev.add_argument("--graph", action="append", required=True, help="registry name or file; repeat for more graphs")
    ev.add_argument(
        "--labels",
        type=class_names,
        help='class names of CSV folder graphs: "a,b,c" or a file with one per line (default: the labels found)',
    )
    ev.add_argument(
        "--label-texts",
        type=label_texts,
        help="the text embedded for each class, in the order of the classes: a file with one per line, or "
        '"a,b,c" (default: the registry\'s, else the class names)',
    )
    ev.add_argument(
        "--description",
        type=description,
        help="what the graph is: the prompt node's text, or a file holding it, for every --graph given (default: the "
        "file's or the registry's, else empty)",
    )
    ev.add_argument(
        "--rounds",
        type=rounds,
        default=None,
        help="propagation rounds R, or auto: chosen per graph without labels (default: the model's config)",
    )
    ev.add_argument("--pooling", choices=POOLING_MODES, default=None, help=POOLING_HELP)
    ev.add_argument(
        "--template",
        default=None,
        help=f"a named template ({', '.join(TEMPLATES)}) or a format string with {{text}}, where {{labels}} and "
        "{description} are filled per graph; '' for none (default: the model's; docs/templates.md)",
    )
    ev.add_argument(
        "--hidden-layer",
        type=int,
        default=None,
        help="backbone layer to pool, as hidden_states counts them (0: embeddings, -1: last; default: the model's)",
    )
    ev.add_argument(
        "--label-statistics",
        choices=LABEL_STATISTICS,
        default=None,
        help="standardise label vectors with their own statistics (ZeroG) or the nodes' (default: the model's)",
    )
    ev.add_argument(
        "--propagation",
        choices=tuple(PROPAGATIONS),
        default=None,
        help="; ".join(f"{name}: {meaning}" for name, meaning in PROPAGATIONS.items()) + " (default: the model's)",
    )
    ev.add_argument("--no-standardize", action="store_true", help="skip ZeroG's if_norm standardisation")
    ev.add_argument("--dtype", choices=PRECISIONS, default="auto")
    ev.add_argument("--batch-size", type=positive_int, default=32)
    ev.add_argument(
        "--device",
        default=None,
        help="where the model runs: cpu, cuda, cuda:1, mps (default: the process's GPU under accelerate, else the "
        "first GPU, else the CPU)",
    )
    ev.add_argument(
        "--report",
        type=Path,
        help="folder for a page of what the model understood: index.html, its figures (PNG) and report.json "
        "(needs matplotlib: the [report] extra; docs/evaluation.md)",
    )
    ev.add_argument("--overwrite", action="store_true", help="replace existing result, prediction and report files")
    ev.add_argument("-v", "--verbose", action="store_true", help="also print ZeroG's notes (Python logging at INFO)")
    ev.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="let a model folder run the Python files its config names (off: nothing in a folder runs)",
    )
    evaluate = commands.add_parser(
        "eval", parents=[ev], help="zero-shot accuracy and macro-F1 (where labels exist) on one or more graphs"
    )
    evaluate.add_argument("--output", type=Path, help="write results as JSON here")
    evaluate.add_argument("--predictions", type=Path, help="folder for one <graph>.csv of predictions per graph")
    predict = commands.add_parser(
        "predict", parents=[ev], help="one CSV of predictions per graph (labels not needed), metrics where labelled"
    )
    predict.add_argument(
        "--output", type=Path, required=True, dest="predictions", help="folder for one <graph>.csv per graph"
    )
    return parser


def check_outputs(args, keys: list):
    """Refuses, before any work and without creating anything, outputs that cannot be written: a results file in a
    missing or unwritable folder, a predictions folder that is a file or lies below one, a folder or a symlink where
    a file would go (even with --overwrite), a file name too long once the temporary suffix is added, and existing
    files without --overwrite. (`write_atomically` checks again as it writes.)"""
    output = getattr(args, "output", None)
    if output:
        check_name_length(output)  # before anything asks the file system about it (ENAMETOOLONG)
        if output.is_dir():
            raise ValueError(f"--output {output} is a folder; give a file name for the JSON results")
        if not output.parent.is_dir():
            raise ValueError(f"--output {output}: the folder {output.parent} does not exist")
        check_writable(output.parent, "--output")
    paths = [output] if output else []
    if args.predictions:
        if args.predictions.exists() and not args.predictions.is_dir():
            raise ValueError(f"--predictions {args.predictions} is a file, not a folder")
        existing = next(folder for folder in [args.predictions, *args.predictions.parents] if folder.exists())
        if not existing.is_dir():
            raise ValueError(f"--predictions {args.predictions}: {existing} is a file, not a folder")
        check_writable(existing, "--predictions")  # the folder is made when the first CSV is written
        paths += [args.predictions / f"{key}.csv" for key in keys]
    for path in paths:
        check_output_path(path)
    existing = [str(p) for p in paths if os.path.lexists(p)]
    if existing and not args.overwrite:
        raise ValueError(f"{', '.join(existing)} already exist(s); pass --overwrite to replace")


def check_output_path(path: Path):
    """Refuses a name that the file system cannot hold (`check_name_length`), and a symlink or a folder where an
    output file goes."""
    check_name_length(path)
    if path.is_symlink():
        raise ValueError(
            f"{path} is a symlink; an output is never written through one (remove it, or choose another path)"
        )
    if path.is_dir():
        raise ValueError(
            f"{path} is a folder, where an output file would be written; remove it or choose another path"
        )


def check_name_length(path: Path):
    """Refuses a file name longer than its file system holds (the temporary name `write_atomically` writes first is
    shortened where needed: `paths.partial_path`)."""
    folder = next(folder for folder in path.parents if folder.exists())
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    longest = len(path.name.encode("utf-8", "surrogateescape"))
    if longest > limit:
        raise ValueError(f"{path}: the file name is too long ({longest} bytes; the limit is {limit})")


def check_writable(folder: Path, option: str):
    """Creates and removes a temporary file in `folder` (permissions alone do not say, e.g. for root)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OSError(f"{option}: cannot write in {folder} ({error.strerror})") from None


def run_eval(args) -> dict:
    from checks_zerog import check_device

    from .distributed import process_state
    from .evaluate import evaluate_graph, write_predictions
    from .graph import result_names
    from .models import load_model
    from .paths import write_atomically
    from .registry import load_graph
    from .report import optional_report_dir, write_reports

    texts = {"label_texts": args.label_texts or True, "description": args.description}
    # fail on a bad graph (or device) before the model loads
    graphs = [load_graph(g, label_names=args.labels, **texts) for g in args.graph]
    device = check_device(args.device, "--device") if args.device is not None else None
    keys = result_names(graphs)
    check_outputs(args, keys)
    optional_report_dir(args)
    with quiet_progress_bars():
        model = load_model(
            args.model,
            pooling_mode=args.pooling,
            template=args.template,
            dtype=default_dtype(args.dtype),
            trust_remote_code=args.trust_remote_code,
            **{
                name: value
                for name, value in [
                    ("hidden_layer", args.hidden_layer),
                    ("label_statistics", args.label_statistics),
                    ("propagation", args.propagation),
                ]
                if value is not None
            },
        )
    state = process_state()
    device = device or state.device
    apply_precision(model, args.dtype, device)
    if model.config.quantization is None:
        model.to(device)
    results, reports = {}, []
    for key, graph in zip(keys, graphs):
        result = evaluate_graph(
            model,
            graph,
            num_rounds=args.rounds,
            standardize=False if args.no_standardize else None,
            batch_size=args.batch_size,
            show_progress_bar=state.is_main_process,
            with_cosines=bool(args.predictions),
        )
        results[key] = {"graph": graph.name, "source": graph.source, **result.to_dict()}
        if args.predictions and state.is_main_process:
            args.predictions.mkdir(parents=True, exist_ok=True)
            write_predictions(args.predictions / f"{key}.csv", graph, result, overwrite=args.overwrite)
        if args.report and state.is_main_process:
            reports.append((key, result, graph))
    if state.is_main_process:
        print(format_table(results))
        unlabelled = [key for key, r in results.items() if r["accuracy"] is None]
        if unlabelled and not args.predictions:
            print(
                f"zerog: {', '.join(unlabelled)}: no labelled node to score; --predictions DIR writes the"
                " predictions (or use zerog predict)",
                file=sys.stderr,
            )
        if args.predictions:
            print(f"predictions: {', '.join(str(args.predictions / f'{key}.csv') for key in results)}")
        if reports:
            write_reports(args.report, reports, overwrite=args.overwrite)
            print(f"report: {args.report / 'index.html'}")
        if getattr(args, "output", None):
            text = json.dumps(results, indent=2, allow_nan=False) + "\n"
            write_atomically(args.output, lambda f: f.write(text), overwrite=args.overwrite)
    return results


def format_table(results: dict) -> str:
    """One row per graph: its nodes, the labelled nodes scored, the R used and the metrics; `-` where a graph has
    no labelled node to score."""
    lines = [f"{'graph':<12} {'nodes':>7} {'scored':>7} {'R':>3} {'accuracy':>9} {'macro-F1':>9} {'majority':>9}"]
    for name, r in results.items():
        lines.append(
            f"{name:<12} {r['num_nodes']:>7} {r['num_scored']:>7} {r['settings']['num_rounds']:>3} "
            f"{percent(r['accuracy']):>9} {percent(r['macro_f1']):>9} {percent(r['majority_accuracy']):>9}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse's own errors (exit 2) and --help (exit 0), as a return value
        return exit_.code
    if args.verbose:
        from modeling_zerog import logger as model_logger

        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        model_logger.setLevel(logging.INFO)
    try:
        with terminate_as_interrupt():
            run_eval(args)
    except (GraphError, OSError, ValueError, ImportError) as error:
        print(f"zerog: error: {error}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as error:
        if not out_of_memory(error):
            raise
        print(
            f"zerog: error: out of memory at --batch-size {args.batch_size}; give a smaller --batch-size (e.g. "
            f"{max(1, args.batch_size // 4)}) or a lower --dtype",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:  # Ctrl-C: outputs are written whole or not at all (write_atomically)
        print("zerog: interrupted", file=sys.stderr)
        return 130
    return 0


def out_of_memory(error: BaseException) -> bool:
    """Whether `error` is running out of memory: Python's MemoryError, torch's OutOfMemoryError (CUDA) or a CPU
    allocator's RuntimeError."""
    text = str(error)
    return isinstance(error, MemoryError) or "out of memory" in text.lower() or "can't allocate memory" in text
