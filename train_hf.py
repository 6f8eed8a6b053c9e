"""Fine-tune a ZeroG backbone with LoRA or QLoRA on source graphs; evaluate zero-shot on targets.

    accelerate launch train_hf.py --model_name_or_path minilm --source_graphs cora citeseer \
        --target_graphs dblp --output_dir out/minilm-zerog --max_steps 300

Data flow: graphs -> SubgraphDataset -> ZeroGCollator -> ZeroGModel (encode -> propagate -> score)
-> ZeroGTrainer. The output folder is a ZeroG model: config, code, tokenizer, adapter, model card.
"""

import copy
import fcntl
import inspect
import json
import os
import shutil
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import torch

import zerog_graph  # noqa: F401  (first: it quiets optional-kernel warnings that importing transformers' Trainer logs)

# isort: split
from transformers import HfArgumentParser, TrainingArguments, set_seed

from configuration_zerog import (
    DECODER_DEFAULT_TEMPLATE,
    DEFAULT_LORA_RANK,
    LABEL_STATISTICS,
    POOLING_HELP,
    POOLING_MODES,
    PROPAGATIONS,
    TEMPLATES,
    ZeroGConfig,
    check_num_rounds,
)
from zerog_graph.paths import partial_path, published, remove_entry
from zerog_graph.sampling import K_HOPS, MAX_NODES, NUM_SUBGRAPHS


def config_default(name: str):
    """The default of a `ZeroGConfig` field: the config is the one source of truth for the model's defaults."""
    return inspect.signature(ZeroGConfig.__init__).parameters[name].default


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default="minilm", metadata={"help": "Backbone: short name, Hub id or local folder."}
    )
    pooling_mode: Optional[Literal[POOLING_MODES]] = field(
        default=None,
        metadata={"help": f"{POOLING_HELP} (default: a saved model's own, else {config_default('pooling_mode')!r})"},
    )
    template: Optional[str] = field(
        default=None,
        metadata={
            "help": f"A named template ({', '.join(TEMPLATES)}) or a format string with {{text}}, where {{labels}} "
            "and {description} are filled per graph; '' for none (default: a saved model's own; decoders "
            f"{DECODER_DEFAULT_TEMPLATE!r}, encoders none)."
        },
    )
    hidden_layer: Optional[int] = field(
        default=None,
        metadata={
            "help": "Backbone layer to pool, as hidden_states counts them (0: embeddings, -1: last) (default: a "
            f"saved model's own, else {config_default('hidden_layer')})."
        },
    )
    label_statistics: Optional[Literal[LABEL_STATISTICS]] = field(
        default=None,
        metadata={
            "help": "Standardise label vectors with their own statistics (labels, ZeroG) or the nodes' (default: a "
            f"saved model's own, else {config_default('label_statistics')!r})."
        },
    )
    propagation: Optional[Literal[tuple(PROPAGATIONS)]] = field(
        default=None,
        metadata={
            "help": "The propagation rule: "
            + "; ".join(f"{name}: {meaning}" for name, meaning in PROPAGATIONS.items())
            + f" (default: a saved model's own, else {config_default('propagation')!r})."
        },
    )
    max_seq_length: Optional[int] = field(
        default=None,
        metadata={
            "help": "Tokens per text, template included (default: a saved model's own, else ZeroGConfig's "
            f"{config_default('max_seq_length')}, as `zerog eval` uses). It is saved in the model's config, so the "
            "trained model is evaluated at the length it was trained at; lower it (e.g. 128) to train faster on "
            "long texts."
        },
    )
    lora_r: Optional[int] = field(
        default=None,
        metadata={
            "help": f"LoRA rank (default: {DEFAULT_LORA_RANK['decoder']} for decoders, "
            f"{DEFAULT_LORA_RANK['encoder']} for encoders)."
        },
    )
    lora_alpha: Optional[float] = field(
        default=None, metadata={"help": f"LoRA alpha (default: {config_default('lora_alpha')})."}
    )
    lora_dropout: Optional[float] = field(
        default=None, metadata={"help": f"LoRA dropout (default: {config_default('lora_dropout')})."}
    )
    lora_target_modules: Optional[list[str]] = field(
        default=None, metadata={"help": "Modules for LoRA (default: the architecture's row of the table)."}
    )
    load_in_4bit: bool = field(default=False, metadata={"help": "QLoRA: load the backbone in 4-bit nf4."})
    load_in_8bit: bool = field(default=False, metadata={"help": "QLoRA: load the backbone in 8-bit."})
    full_finetune: bool = field(
        default=False, metadata={"help": "Train every backbone weight (refused: ZeroG publishes adapters)."}
    )
    logit_scale: Optional[float] = field(
        default=None,
        metadata={"help": f"Scale of the cosine similarities in the loss (default: {config_default('logit_scale')})."},
    )
    trust_remote_code: bool = field(
        default=False,
        metadata={"help": "Let a model folder run the Python files its config names (auto_map). Off: no file runs."},
    )


@dataclass
class DataArguments:
    source_graphs: list[str] = field(metadata={"help": "Graphs to train on: registry names or files."})
    target_graphs: list[str] = field(
        default_factory=list, metadata={"help": "Graphs to evaluate zero-shot on; never trained on."}
    )
    num_subgraphs: int = field(default=NUM_SUBGRAPHS, metadata={"help": "Subgraphs sampled per source graph."})
    k_hops: int = field(default=K_HOPS, metadata={"help": "Subgraph radius."})
    max_nodes: int = field(default=MAX_NODES, metadata={"help": "Most nodes per subgraph."})
    min_classes: Optional[list[int]] = field(
        default=None,
        metadata={
            "help": "Fewest classes per subgraph: one value for every source graph, or one per source graph "
            "(default: ceil(C/2) of each)."
        },
    )
    num_rounds: Optional[str] = field(
        default=None,
        metadata={
            "help": "Propagation rounds R, or auto (chosen per target graph without labels; 2 on subgraphs) "
            f"(default: {config_default('num_rounds')!r})."
        },
    )
    standardize: Optional[bool] = field(
        default=None,
        metadata={
            "help": f"ZeroG's if_norm standardisation: true or false (default: {config_default('standardize')})."
        },
    )
    standardize_with: Literal["graph", "subgraph"] = field(
        default="graph",
        metadata={
            "help": "Statistics that standardise a training subgraph: its source graph's (a sample of "
            "--statistics_nodes nodes, refreshed every --statistics_refresh_steps steps), as evaluation "
            "standardises a whole graph, or the subgraph's own."
        },
    )
    statistics_nodes: int = field(default=256, metadata={"help": "Nodes sampled per source graph for its statistics."})
    statistics_refresh_steps: int = field(
        default=50, metadata={"help": "Steps between recomputations of the source statistics (0: never)."}
    )
    train_max_length: int = field(
        default=64,
        metadata={
            "help": "Tokens per text in training subgraphs (template included); the model keeps --max_seq_length "
            "for evaluation. Training cost grows with it, evaluation quality little (the texts are cut)."
        },
    )
    label_texts: bool = field(
        default=True, metadata={"help": "Train with the registry's label texts; False: the class names only."}
    )
    num_source_eval_subgraphs: int = field(
        default=0,
        metadata={"help": "Fixed source subgraphs whose loss is reported before, during and after training."},
    )
    overwrite_output: bool = field(default=False, metadata={"help": "Replace a model already in --output_dir."})


@dataclass
class ZeroGTrainingArguments(TrainingArguments):
    """The Trainer's arguments, with the ZeroG recipe's defaults (docs/training.md says how each was chosen)."""

    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate (ZeroG used 1e-4)."})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay (ZeroG's 0.1)."})
    max_steps: int = field(default=100, metadata={"help": "Optimizer steps."})
    warmup_steps: float = field(default=10, metadata={"help": "Linear warm-up steps."})
    per_device_train_batch_size: int = field(default=2, metadata={"help": "Subgraphs per step and device."})
    logging_steps: float = field(default=10, metadata={"help": "Steps between loss logs."})
    hub_strategy: Literal["end"] = field(
        default="end",
        metadata={
            "help": "With --push_to_hub: end, one push of the trained model with its card (the Trainer's other "
            "strategies upload pickles: training_args.bin, optimizer.pt)."
        },
    )


def check_arguments(model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments):
    """Refuses options that cannot work, before any graph or model is loaded."""
    if model_args.load_in_4bit and model_args.load_in_8bit:
        raise ValueError("choose one of --load_in_4bit and --load_in_8bit")
    if training_args.max_steps == 0:
        raise ValueError("--max_steps 0 trains nothing: give a positive number, or -1 to train --num_train_epochs")
    if training_args.max_steps < 0 and training_args.num_train_epochs <= 0:
        raise ValueError(
            f"--num_train_epochs {training_args.num_train_epochs} gives zero training steps: give a positive "
            f"--num_train_epochs or --max_steps"
        )
    if data_args.num_rounds is not None:
        data_args.num_rounds = check_num_rounds(data_args.num_rounds, "--num_rounds", text=True)
    for name in ("num_subgraphs", "k_hops", "max_nodes", "statistics_nodes", "train_max_length"):
        if getattr(data_args, name) < 1:
            raise ValueError(f"--{name} must be at least 1, got {getattr(data_args, name)}")
    if data_args.statistics_refresh_steps < 0:
        raise ValueError(
            f"--statistics_refresh_steps must be 0 (never) or more, got {data_args.statistics_refresh_steps}"
        )
    if data_args.num_source_eval_subgraphs < 0:
        raise ValueError(f"--num_source_eval_subgraphs must be >= 0, got {data_args.num_source_eval_subgraphs}")
    if data_args.min_classes is not None:
        if any(value < 1 for value in data_args.min_classes):
            raise ValueError(f"--min_classes must be at least 1, got {data_args.min_classes}")
        if len(data_args.min_classes) not in (1, len(data_args.source_graphs)):
            raise ValueError(
                f"--min_classes takes one value or one per source graph ({len(data_args.source_graphs)}), "
                f"got {len(data_args.min_classes)}"
            )
        if len(data_args.min_classes) == 1:
            data_args.min_classes = data_args.min_classes[0]
    if training_args.resume_from_checkpoint:
        from zerog_graph.trainer import check_checkpoint

        check_checkpoint(training_args.resume_from_checkpoint)
    check_output_dir(model_args, data_args, training_args)


def check_output_dir(model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments):
    """Refuses an output folder that is, holds or lies inside the model trained from (or the backbone folder a saved
    model names), whatever --overwrite_output says: saving would overwrite the input; and one that already holds a
    model, without --overwrite_output or --resume_from_checkpoint."""
    output = Path(training_args.output_dir)
    for field_name, folder in input_folders(model_args.model_name_or_path):
        inside = os.path.commonpath([folder, os.path.realpath(output)])
        if inside in (folder, os.path.realpath(output)):
            how = "is" if folder == os.path.realpath(output) else "lies inside" if inside == folder else "holds"
            raise ValueError(
                f"--output_dir {output} {how} the model trained from ({field_name} {folder}); saving would overwrite "
                f"it: choose another --output_dir"
            )
    if (output / "config.json").exists() and not (data_args.overwrite_output or training_args.resume_from_checkpoint):
        raise ValueError(
            f"{output} already holds a model; pass --overwrite_output to replace it, "
            f"or --resume_from_checkpoint to continue"
        )


def input_folders(model_name_or_path: str) -> list:
    """`(what, real path)` of each local folder a training run reads its model from: --model_name_or_path, and
    the backbone folder that a saved ZeroG model's `lm_name_or_path` names."""
    if not os.path.isdir(model_name_or_path):
        return []
    from hub_zerog import read_hub_json, saved_folder_backbone

    folders = [("--model_name_or_path", os.path.realpath(model_name_or_path))]
    config = read_hub_json(model_name_or_path, "config.json", dict) or {}
    backbone = config.get("lm_name_or_path") if config.get("model_type") == "zerog" else None
    if isinstance(backbone, str):
        backbone = saved_folder_backbone(model_name_or_path, backbone) or backbone
        if os.path.isdir(backbone):
            folders.append((f"the lm_name_or_path of {model_name_or_path}/config.json,", os.path.realpath(backbone)))
    return folders


# Held (an exclusive `flock`) while a run writes its --output_dir; the lock ends with the process, however it ends.
OUTPUT_LOCK = ".zerog-train.lock"


@contextmanager
def claimed(model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments):
    """Claims --output_dir for this run: a second run into the same folder at once is refused, rather than both
    writing it and one model silently replacing the other. The checks of `check_output_dir` are made again under
    the claim. A folder this run created is removed again if the run leaves it empty (a refused run)."""
    if int(os.environ.get("RANK", "0")) != 0:  # under DDP, the main process claims the folder for all
        yield
        return
    output = Path(training_args.output_dir)
    created = not output.exists()
    output.mkdir(parents=True, exist_ok=True)
    try:
        with open(output / OUTPUT_LOCK, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ValueError(
                    f"--output_dir {output}: another run is writing into it; wait for it to end, or choose another"
                ) from None
            try:
                check_output_dir(model_args, data_args, training_args)
                yield
            finally:
                os.unlink(output / OUTPUT_LOCK)
    finally:
        if created and not any(output.iterdir()):
            output.rmdir()


def same_file(a, b) -> bool:
    """Whether two graphs were read from the same file, whatever the spelling of its path."""
    return os.path.exists(a.source) and os.path.exists(b.source) and os.path.samefile(a.source, b.source)


def graph_key(graph) -> str:
    """`content_hash` of the graph without the texts the registry adds (description, label texts), so
    that a registry graph and a copy of its file compare equal."""
    bare = copy.copy(graph)
    bare.description, bare.label_texts = "", None
    return bare.content_hash()


def check_graphs(data_args: DataArguments, sources: list, targets: list):
    """Refuses a target that is also a source (same file or same content) or that has no labelled node."""
    for given, target in zip(data_args.target_graphs, targets):
        if not target.eval_mask.any():
            raise ValueError(
                f"target graph {given!r} ({target.source}) has no labelled node in its evaluation mask, so there "
                f"is no zero-shot accuracy to report; drop it from --target_graphs and predict on it with the "
                f"trained model instead"
            )
    source_keys = [graph_key(source) for source in sources]
    source_texts = [text_set(source) for source in sources]
    for given, target in zip(data_args.target_graphs, targets):
        target_key, target_texts = graph_key(target), text_set(target)
        for source_given, source, source_key, texts in zip(
            data_args.source_graphs, sources, source_keys, source_texts
        ):
            how = seen_in(target, target_key, target_texts, source, source_key, texts)
            if how is not None:
                raise ValueError(
                    f"target graphs must be unseen in training, but target {given!r} has the same {how} as "
                    f"source {source_given!r} ({source.source})"
                )


# A target sharing this fraction of its node texts with a source graph is not unseen (half its labels hidden,
# a text edited, a subgraph of the source all share more).
MAX_SHARED_TEXTS = 0.5


def text_set(graph) -> set:
    """A graph's node texts, whitespace and case normalised; blank texts left out."""
    return {" ".join(text.split()).casefold() for text in graph.texts} - {""}


def seen_in(target, target_key: str, target_texts: set, source, source_key: str, source_texts: set):
    """How `target` is the `source` graph, or a copy of it changed a little (None when it is not): the same file,
    the same content, the same edges over as many nodes, or most of its node texts."""
    if same_file(source, target):
        return "file"
    if source_key == target_key:
        return "nodes, edges and labels"
    same_nodes = source.num_nodes == target.num_nodes and source.edge_index.numel() > 0
    if same_nodes and torch.equal(source.edge_index, target.edge_index):
        return "edges over as many nodes"
    shared = len(target_texts & source_texts) / max(len(target_texts), 1)
    if shared >= MAX_SHARED_TEXTS:
        return f"node texts ({shared:.0%} of its {len(target_texts)} distinct texts)"
    return None


def build_training_model(model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments):
    from zerog_graph.models import backbone_config, load_model

    if model_args.full_finetune:
        _, _, lm_config, is_decoder = backbone_config(model_args.model_name_or_path)
        kind = "a decoder" if is_decoder else "an encoder"
        raise ValueError(
            f"Full fine-tuning of {kind} ({lm_config.model_type}) is refused: ZeroG trains and publishes a "
            f"LoRA adapter. Drop --full_finetune (LoRA), or add --load_in_4bit for QLoRA."
        )
    quantization = "4bit" if model_args.load_in_4bit else "8bit" if model_args.load_in_8bit else None
    settings = dict(
        pooling_mode=model_args.pooling_mode,
        template=model_args.template,
        hidden_layer=model_args.hidden_layer,
        label_statistics=model_args.label_statistics,
        propagation=model_args.propagation,
        lora_r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        lora_target_modules=model_args.lora_target_modules,
        max_seq_length=model_args.max_seq_length,
        logit_scale=model_args.logit_scale,
        num_rounds=data_args.num_rounds,
        standardize=data_args.standardize,
    )
    # Options not given are None: a saved model keeps its own settings, a new one gets ZeroGConfig's defaults.
    settings = {name: value for name, value in settings.items() if value is not None}
    return load_model(
        model_args.model_name_or_path,
        use_lora=True,
        quantization=quantization,
        gradient_checkpointing=training_args.gradient_checkpointing,
        trust_remote_code=model_args.trust_remote_code,
        **settings,
    )


def subgraphs(graphs: list, num_subgraphs: int, data_args: DataArguments, seed: int):
    from zerog_graph.sampling import SubgraphDataset

    return SubgraphDataset(
        graphs, num_subgraphs, data_args.k_hops, data_args.max_nodes, data_args.min_classes, seed=seed
    )


def parse_arguments(argv: Optional[list] = None) -> tuple:
    """(model, data, training) arguments from the command line, checked before any graph or model loads."""
    parser = HfArgumentParser((ModelArguments, DataArguments, ZeroGTrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    given = {arg.split("=")[0] for arg in (sys.argv[1:] if argv is None else argv) if arg.startswith("--")}
    if "--num_train_epochs" in given and "--max_steps" not in given:
        training_args.max_steps = -1  # epochs given: they decide, not the recipe's default step count
    check_arguments(model_args, data_args, training_args)
    return model_args, data_args, training_args


def load_data(data_args: DataArguments, seed: int) -> tuple:
    """(source graphs, target graphs, training subgraphs, held-aside source subgraphs); a target that is also a
    source, or a subgraph rule that no subgraph meets, fails here, before the model loads."""
    from zerog_graph.registry import load_graph

    sources = [load_graph(g, label_texts=data_args.label_texts) for g in data_args.source_graphs]
    targets = [load_graph(g) for g in data_args.target_graphs]
    check_graphs(data_args, sources, targets)
    train_dataset = subgraphs(sources, data_args.num_subgraphs, data_args, seed)
    train_dataset.check()
    held_aside = subgraphs(sources, data_args.num_source_eval_subgraphs, data_args, seed + 1)
    return sources, targets, train_dataset, held_aside


def build_trainer(model, data_args: DataArguments, training_args: TrainingArguments, sources, targets, datasets):
    """The Trainer, with the collator cutting texts at `--train_max_length` and (by default) each source graph's own
    standardisation statistics (`SourceStatistics`)."""
    from zerog_graph.collator import ZeroGCollator
    from zerog_graph.trainer import SourceStatistics, ZeroGTrainer

    train_dataset, held_aside = datasets
    trainer = ZeroGTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=targets,
        data_collator=ZeroGCollator(
            model.tokenizer, model.config.templates, min(data_args.train_max_length, model.max_length)
        ),
        processing_class=model.tokenizer,
        source_eval_dataset=held_aside,
    )
    if model.config.standardize and data_args.standardize_with == "graph":
        statistics = SourceStatistics(
            sources,
            data_args.statistics_nodes,
            data_args.statistics_refresh_steps,
            training_args.seed,
            training_args.bf16,
            trainer.data_collator.max_length,
        )
        statistics.compute(trainer.model)
        trainer.data_collator.statistics = statistics.values
        trainer.add_callback(statistics)
    return trainer


def zero_shot_results(names: list, before: dict, after: dict) -> dict:
    """{target: {"before" | "after": {metric: value}}} from the Trainer's before and after evaluations."""
    from zerog_graph.trainer import METRICS

    return {
        name: {
            when: {metric: scores[f"{when}_{name}_{metric}"] for metric in METRICS}
            for when, scores in (("before", before), ("after", after))
        }
        for name in names
    }


def save_run(trainer, data_args: DataArguments, training_args: TrainingArguments, results: dict, before, after):
    """Writes the model, `zero_shot_results.json` and the model card (README.md) into the output folder."""
    from zerog_graph.paths import write_atomically
    from zerog_graph.trainer import model_card

    output = Path(training_args.output_dir)
    save_whole(trainer, output)
    given = dict(zip(results, data_args.target_graphs))
    record = {"sources": data_args.source_graphs, "targets": data_args.target_graphs, "target_names": given}
    record["results"] = results
    if trainer.source_eval_dataset is not None:
        record["source_loss"] = {"before": before["before_source_loss"], "after": after["after_source_loss"]}
    text = json.dumps(record, indent=2) + "\n"
    write_atomically(output / "zero_shot_results.json", lambda f: f.write(text))
    model_name = training_args.hub_model_id or output.name
    card = model_card(trainer.model, model_name, data_args.source_graphs, given, training_args, results)
    write_atomically(output / "README.md", lambda f: f.write(str(card)))


def save_whole(trainer, output: Path) -> None:
    """`trainer.save_model` into a private folder inside `output`, then each saved file and folder renamed into
    place: a save that fails (a full disk, a file-size limit) leaves no half-written model, and names the folder."""
    staging = partial_path(output / ".save")
    try:
        trainer.save_model(str(staging))
        for item in staging.iterdir():
            target = output / item.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)  # an older save's adapter/ folder
            with published(target, partial=item):
                pass  # saved already: only the rename
    except ValueError:
        raise
    except Exception as error:  # OSError, or safetensors' own error for a full disk
        raise OSError(f"{output}: the model cannot be saved ({' '.join(str(error).split())[:300]})") from None
    finally:
        remove_entry(staging)


def main(argv: Optional[list] = None) -> dict:
    model_args, data_args, training_args = parse_arguments(argv)
    with claimed(model_args, data_args, training_args):
        return train(model_args, data_args, training_args)


def train(model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments) -> dict:
    """Loads the graphs and the model, evaluates the targets, trains, evaluates again, saves (and pushes)."""
    from zerog_graph.graph import result_names
    from zerog_graph.trainer import check_no_pickle_pushed

    push_to_hub, training_args.push_to_hub = training_args.push_to_hub, False  # pushed once, with the card
    training_args.remove_unused_columns = False  # the collator needs every field of a subgraph
    if training_args.device.type == "cpu":
        training_args.dataloader_pin_memory = False  # pinning needs an accelerator; torch warns on every loader
    set_seed(training_args.seed)
    sources, targets, train_dataset, held_aside = load_data(data_args, training_args.seed)
    model = build_training_model(model_args, data_args, training_args)
    trainer = build_trainer(model, data_args, training_args, sources, targets, (train_dataset, held_aside))
    evaluates = bool(targets or trainer.source_eval_dataset is not None)
    before = trainer.evaluate(metric_key_prefix="before") if evaluates else {}
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    after = trainer.evaluate(metric_key_prefix="after") if evaluates else {}
    results = zero_shot_results(result_names(targets), before, after)
    if trainer.is_world_process_zero():
        save_run(trainer, data_args, training_args, results, before, after)
        if push_to_hub:
            check_no_pickle_pushed(training_args.output_dir)
            print(trainer.push_to_hub(commit_message="Upload ZeroG adapter", private=training_args.hub_private_repo))
    return results


def run(argv: Optional[list] = None) -> int:
    """`main` as a command: exit 2 with one line for bad input, 130 for Ctrl-C, no traceback."""
    from zerog_graph.console import terminate_as_interrupt

    try:
        with terminate_as_interrupt():  # SIGTERM as Ctrl-C: the claimed --output_dir is released and cleaned
            main(argv)
    except (ValueError, OSError, ImportError) as error:
        print(f"train_hf.py: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("train_hf.py: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(run())
