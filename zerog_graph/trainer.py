"""The HF Trainer for ZeroG: zero-shot evaluation on target graphs, adapter resume, model card."""

import json
import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import torch
from huggingface_hub import EvalResult, ModelCard, ModelCardData
from torch.utils.data import Dataset
from transformers import Trainer, TrainerCallback
from transformers.trainer import TRAINING_ARGS_NAME

from backbone_zerog import check_adapter_fits
from hub_zerog import ADAPTER_SUBFOLDER, check_adapter_config, one_line, read_hub_json
from propagation_zerog import graph_statistics

from .console import percent
from .evaluate import evaluate_graph
from .graph import result_names

METRICS = ("accuracy", "macro_f1")
# How each metric appears in a model-index: (metric type, display name, arguments).
CARD_METRICS = {
    "accuracy": ("accuracy", "Zero-shot accuracy", None),
    "macro_f1": ("f1", "Macro-F1", {"average": "macro"}),
}


class ZeroGTrainer(Trainer):
    """A `Trainer` whose evaluation is zero-shot classification of the target graphs.

    `eval_dataset` is a list of `TextGraph`; metrics are `<prefix>_<name>_accuracy` and
    `<prefix>_<name>_macro_f1`, `<name>` from `result_names` (distinct even when two graphs share a
    name), computed on every process's share of the texts (see `encode_sharded`) and logged like any
    other metric. With `source_eval_dataset` (a dataset of held-aside source subgraphs, batched by the
    collator) it also reports `<prefix>_source_loss`: the Trainer's own evaluation loop (autocast,
    device placement, gather across processes) over the same subgraphs each time: the mean, over the
    subgraphs, of the mean node loss of the eval batch each is in (with one batch, the mean over its
    labelled nodes). It shows whether training lowers the loss.
    """

    def __init__(self, *args, source_eval_dataset: Optional[Dataset] = None, **kwargs):
        super().__init__(*args, **kwargs)
        has_items = source_eval_dataset is not None and len(source_eval_dataset) > 0
        self.source_eval_dataset = source_eval_dataset if has_items else None

    def source_loss(self, metric_key_prefix: str) -> dict:
        """`{<prefix>_source_loss: loss}` on the held-aside source subgraphs, through `evaluation_loop`."""
        output = self.evaluation_loop(
            self.get_eval_dataloader(self.source_eval_dataset),
            description="Held-aside source loss",
            prediction_loss_only=True,
            metric_key_prefix=f"{metric_key_prefix}_source",
        )
        return {f"{metric_key_prefix}_source_loss": output.metrics[f"{metric_key_prefix}_source_loss"]}

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict:
        graphs = list(eval_dataset if eval_dataset is not None else self.eval_dataset or [])
        metrics = self.source_loss(metric_key_prefix) if self.source_eval_dataset is not None else {}
        for name, graph in zip(result_names(graphs), graphs):
            result = evaluate_graph(self.model, graph, cache=False, batch_size=self.args.per_device_eval_batch_size)
            for metric in METRICS:
                metrics[f"{metric_key_prefix}_{name}_{metric}"] = getattr(result, metric)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    def log(self, logs: dict, *args, **kwargs):
        """Logs, after refusing a training loss or LoRA weight that is NaN or infinite: training has diverged
        (a learning rate or logit_scale too large), and what it would save is no model."""
        loss = logs.get("loss")
        if isinstance(loss, float) and not math.isfinite(loss):
            raise ValueError(
                f"the training loss is {loss} at step {self.state.global_step}: training diverged; stopped"
            )
        if "loss" in logs:
            check_finite(self.model, f"at step {self.state.global_step}")
        super().log(logs, *args, **kwargs)

    def _save(self, output_dir: Optional[str] = None, state_dict=None):
        """As the Trainer's, after refusing trainable weights that are NaN or infinite (a run that diverged between
        logging steps is stopped here, before it writes an adapter that is no model), and without
        `training_args.bin`: a pickle, which nothing reads back and `push_to_hub` would upload (the card lists the
        run's settings)."""
        check_finite(self.model, f"at step {self.state.global_step}, before saving")
        super()._save(output_dir, state_dict)
        Path(output_dir or self.args.output_dir, TRAINING_ARGS_NAME).unlink(missing_ok=True)

    def create_model_card(self, *args, **kwargs):
        """Keeps the ZeroG card (`model_card`, written with the results before `push_to_hub`) in place of the
        Trainer's generic one."""

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        """Checkpoints hold the LoRA adapter only (the backbone reloads from its source); one that does not fit
        the model is refused (`check_adapter_fits`), never trained on from fresh weights."""
        model = model or self.model
        folder = os.path.join(resume_from_checkpoint, ADAPTER_SUBFOLDER)
        check_checkpoint(resume_from_checkpoint)
        with named_errors(f"{folder}: the adapter cannot be loaded"):
            model.lm.load_adapter(folder, adapter_name="default", is_trainable=True)
        check_adapter_fits(model.lm, folder)

    def _load_rng_state(self, checkpoint):
        """As the Trainer's (`torch.load(weights_only=True)`: a pickle never runs), with errors naming the file."""
        with named_errors(f"{checkpoint}: its RNG state (rng_state*.pth) cannot be loaded"):
            super()._load_rng_state(checkpoint)

    def _load_optimizer_and_scheduler(self, checkpoint):
        """As the Trainer's, with errors naming the files."""
        with named_errors(f"{checkpoint}: optimizer.pt or scheduler.pt cannot be loaded"):
            super()._load_optimizer_and_scheduler(checkpoint)


def check_finite(model, when: str) -> None:
    """Refuses a model whose trainable weights (the LoRA adapter) hold NaN or infinite values: training diverged."""
    broken = next((n for n, p in model.named_parameters() if p.requires_grad and not p.isfinite().all()), None)
    if broken is not None:
        raise ValueError(f"{broken} holds NaN or infinite values {when}: training diverged; stopped")


@contextmanager
def named_errors(what: str):
    """Any failure inside as one ValueError, `what` (naming the file) then the error on one line."""
    try:
        yield
    except Exception as error:
        raise ValueError(f"{what} ({one_line(error)})") from None


# What `--resume_from_checkpoint` needs in a checkpoint folder, checked before anything loads.
CHECKPOINT_FILES = (f"{ADAPTER_SUBFOLDER}/adapter_model.safetensors", f"{ADAPTER_SUBFOLDER}/adapter_config.json")


def check_checkpoint(folder) -> None:
    """Refuses a checkpoint folder that cannot be resumed from, naming the file: missing, no adapter, an adapter
    config or trainer_state.json that is not a JSON object. (Weights are checked as they load.)"""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"--resume_from_checkpoint {folder}: not a folder")
    for name in CHECKPOINT_FILES:
        if not (folder / name).is_file():
            raise ValueError(f"{folder / name}: missing; a ZeroG checkpoint holds its LoRA adapter there")
    check_adapter_config(str(folder / ADAPTER_SUBFOLDER / "adapter_config.json"))  # before peft builds anything
    read_hub_json(str(folder), "trainer_state.json", dict)  # a ValueError naming the file if not a JSON object


class SourceStatistics(TrainerCallback):
    """Whole-graph standardisation statistics of each source graph, for training.

    Evaluation standardises a graph over all its nodes; a training subgraph of a few dozen nodes has
    other statistics, so by default training standardises each subgraph with its source graph's: the
    mean and inverse std of `num_nodes` node embeddings (a seeded sample) and the description, from
    the model being trained, with the texts cut at the training length (`max_length`). They are
    computed by `compute(model)` (call it once before training) and again every `refresh_steps`
    optimizer steps (0: never). `values[i]` is graph `i`'s `(mean, inverse std)`, `[H]` each; the
    collator reads the same list, so a refresh reaches the next batch.
    """

    def __init__(
        self,
        graphs: list,
        num_nodes: int = 256,
        refresh_steps: int = 50,
        seed: int = 0,
        bf16: bool = False,
        max_length: Optional[int] = None,
    ):
        generator = torch.Generator().manual_seed(seed)
        self.texts, self.fields = [], []  # fields: what the templates fill in (`{labels}`, `{description}`)
        for graph in graphs:
            nodes = torch.randperm(graph.num_nodes, generator=generator)[:num_nodes].tolist()
            self.texts.append([graph.texts[i] for i in nodes])
            self.fields.append({"labels": graph.label_names, "description": graph.description})
        self.refresh_steps, self.bf16, self.max_length = refresh_steps, bf16, max_length
        self.values = [None] * len(graphs)

    def compute(self, model):
        model = getattr(model, "module", model)  # unwrapped from DDP
        device_type = next(model.parameters()).device.type
        with torch.no_grad(), torch.autocast(device_type, dtype=torch.bfloat16, enabled=self.bf16):
            for index, (texts, fields) in enumerate(zip(self.texts, self.fields)):
                nodes = model.encode(texts, max_length=self.max_length, **fields)
                prompt = model.encode(
                    [fields["description"]], max_length=self.max_length, kind="description", **fields
                )
                mean, scale = graph_statistics(torch.cat([nodes, prompt]))
                self.values[index] = (mean[0], scale[0])

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.refresh_steps and state.global_step % self.refresh_steps == 0 and state.global_step < state.max_steps:
            self.compute(model)


def eval_results(results: dict) -> list:
    """One `EvalResult` per target graph and metric (zero-shot, after training): the card's model-index."""
    return [
        EvalResult(
            task_type="node-classification",
            task_name="Zero-shot node classification",
            dataset_type=name,
            dataset_name=name,
            metric_type=CARD_METRICS[metric][0],
            metric_name=CARD_METRICS[metric][1],
            metric_args=CARD_METRICS[metric][2],
            metric_value=scores["after"][metric],
        )
        for name, scores in results.items()
        for metric in METRICS
        if scores["after"][metric] is not None
    ]


def model_card(model, model_name: str, sources: list, targets: dict, training_args, results: dict) -> ModelCard:
    """The model card of a trained ZeroG model: metadata with a model-index of each target's zero-shot
    accuracy and macro-F1 (`ModelCardData.eval_results`), then backbone, graphs and hyperparameters.

    `targets` maps each result name (a key of `results`) to the graph as it was given."""
    data = ModelCardData(
        model_name=model_name,
        library_name="transformers",
        base_model=hub_base_model(model.config.lm_name_or_path),
        tags=["zerog", "graph", "zero-shot", "node-classification", "lora"],
        eval_results=eval_results(results) or None,
    )
    body = card_body(
        model.config, sources, targets, results_rows(targets, results), hyperparameters(model, training_args)
    )
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")


def hub_base_model(lm_name_or_path: str):
    """The card's `base_model`: the backbone's Hub id, or None for a local folder (a path says nothing on the Hub,
    and names the trainer's machine)."""
    return None if os.path.exists(lm_name_or_path) or os.path.isabs(lm_name_or_path) else lm_name_or_path


def results_rows(targets: dict, results: dict) -> str:
    """The rows of the card's table: each target's accuracy before and after training, macro-F1 after."""
    return "\n".join(
        f"| {name} | {targets[name]} | {percent(r['before']['accuracy'])} | {percent(r['after']['accuracy'])} | "
        f"{percent(r['after']['macro_f1'])} |"
        for name, r in results.items()
    )


def hyperparameters(model, training_args) -> dict:
    """The model's and the training run's settings, as the card lists them."""
    config = model.config
    return {
        "lora_r": model.lm.peft_config["default"].r if config.use_lora else None,
        "lora_alpha": config.lora_alpha,
        "lora_dropout": config.lora_dropout,
        "quantization": config.quantization,
        "pooling": model.pooling_mode,
        "template": config.template,
        "label_template": config.templates.label,
        "description_template": config.templates.description,
        "hidden_layer": config.hidden_layer,
        "max_seq_length": config.max_seq_length,
        "num_rounds": config.num_rounds,
        "standardize": config.standardize,
        "label_statistics": config.label_statistics,
        "learning_rate": training_args.learning_rate,
        "max_steps": training_args.max_steps,
        "per_device_train_batch_size": training_args.per_device_train_batch_size,
        "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
        "seed": training_args.seed,
    }


def card_body(config, sources: list, targets: dict, rows: str, hyper: dict) -> str:
    """The card's text below the metadata: how to load the model, the graphs, the results and the settings."""
    revision = f" at revision `{config.lm_revision}`" if config.lm_revision else ""
    backbone = hub_base_model(config.lm_name_or_path) or f"a local folder, {Path(config.lm_name_or_path).name}"
    return f"""
# ZeroG on {backbone}

A LoRA adapter for zero-shot node classification on text-attributed graphs (ZeroG). The backbone's
weights load from `{backbone}`{revision}; this repository holds the config, the code
(`configuration_zerog.py`, `modeling_zerog.py`), the tokenizer and the adapter.

```python
from transformers import AutoModel
model = AutoModel.from_pretrained("<this repo>", trust_remote_code=True, revision="<pin a commit>")
texts = ["Graph neural networks for citation data", "Query optimisation in databases", "Deep learning"]
out = model.classify(texts, [(0, 2)], ["machine learning", "databases"], description="Computer science papers")
print(out.predicted_classes, out.num_rounds)  # a class per node, and the R chosen for this graph
```

`out.scores` holds each node's cosine with each class after propagation; `model.encode(texts)` gives the
embeddings alone.

- Source graphs (trained on): {", ".join(sources)}
- Target graphs (never trained on): {", ".join(targets.values()) or "none"}

## Zero-shot accuracy on the targets (%, the labelled nodes of each graph's evaluation mask)

| result | graph | accuracy before training | accuracy after training | macro-F1 after |
|---|---|---|---|---|
{rows}

## Hyperparameters

```json
{json.dumps(hyper, indent=2)}
```
"""


# What `Trainer.push_to_hub` skips (checkpoints, `_*`), and what ZeroG refuses to upload: pickles.
PUSH_SKIPPED, PICKLES = ("checkpoint-", "_"), (".pt", ".pth", ".bin", ".pkl", ".pickle")


def check_no_pickle_pushed(folder) -> None:
    """Refuses, naming the file, an output folder with a pickle that `Trainer.push_to_hub` would upload (one
    copied in by hand, or an older run's `training_args.bin`): a published ZeroG model holds none."""
    folder = Path(folder)
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and path.suffix in PICKLES and not relative.parts[0].startswith(PUSH_SKIPPED):
            raise ValueError(f"{path}: a pickle, which --push_to_hub never uploads; remove it and push again")
