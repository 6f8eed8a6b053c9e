"""The HF Trainer for ZeroG: zero-shot evaluation on target graphs, adapter resume, model card."""

import json
from pathlib import Path

import torch
from transformers import Trainer

from .evaluate import evaluate_graph


class ZeroGTrainer(Trainer):
    """A `Trainer` whose evaluation is zero-shot classification of the target graphs.

    `eval_dataset` is a list of `TextGraph`; metrics are `<prefix>_<graph>_accuracy` and
    `<prefix>_<graph>_macro_f1`, computed on every process's share of the texts (see
    `encode_sharded`) and logged like any other metric. With `source_subgraphs` (a fixed list of
    collated source batches) it also reports `<prefix>_source_loss`, the training loss on the same
    subgraphs each time, which shows whether training lowers the loss.
    """

    def __init__(self, *args, source_subgraphs: list = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.source_subgraphs = list(source_subgraphs)

    @torch.no_grad()
    def source_loss(self) -> float:
        was_training = self.model.training
        self.model.eval()
        device = next(p for p in self.model.parameters()).device
        losses = [
            self.model(**{k: v.to(device) for k, v in batch.items()}).loss.item() for batch in self.source_subgraphs
        ]
        self.model.train(was_training)
        return sum(losses) / len(losses)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict:
        graphs = eval_dataset if eval_dataset is not None else self.eval_dataset
        metrics = {f"{metric_key_prefix}_source_loss": self.source_loss()} if self.source_subgraphs else {}
        for graph in graphs or []:
            result = evaluate_graph(self.model, graph, cache=False, batch_size=self.args.per_device_eval_batch_size)
            metrics[f"{metric_key_prefix}_{graph.name}_accuracy"] = result.accuracy
            metrics[f"{metric_key_prefix}_{graph.name}_macro_f1"] = result.macro_f1
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        """Checkpoints hold the LoRA adapter only (the backbone reloads from its source)."""
        model = model or self.model
        model.lm.load_adapter(resume_from_checkpoint, adapter_name="default", is_trainable=True)


def model_card(model, sources: list, targets: list, training_args, results: dict) -> str:
    """A README.md for a trained ZeroG model: backbone, graphs, hyperparameters and zero-shot table."""
    config = model.config
    rows = "\n".join(
        f"| {name} | {100 * r['before']['accuracy']:.1f} | {100 * r['after']['accuracy']:.1f} | "
        f"{100 * r['after']['macro_f1']:.1f} |"
        for name, r in results.items()
    )
    hyper = {
        "lora_r": model.lm.peft_config["default"].r if config.use_lora else None,
        "lora_alpha": config.lora_alpha,
        "lora_dropout": config.lora_dropout,
        "quantization": config.quantization,
        "pooling": model.pooling_mode,
        "template": config.template,
        "num_rounds": config.num_rounds,
        "standardize": config.standardize,
        "learning_rate": training_args.learning_rate,
        "max_steps": training_args.max_steps,
        "per_device_train_batch_size": training_args.per_device_train_batch_size,
        "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
        "seed": training_args.seed,
    }
    return f"""---
library_name: transformers
tags: [zerog, graph, zero-shot, node-classification, lora]
base_model: {config.lm_name_or_path}
---

# ZeroG on {config.lm_name_or_path}

A LoRA adapter for zero-shot node classification on text-attributed graphs (ZeroG). The backbone's
weights load from `{config.lm_name_or_path}`{f" at revision `{config.lm_revision}`" if config.lm_revision else ""};
this repository holds the config, the code (`configuration_zerog.py`, `modeling_zerog.py`), the
tokenizer and the adapter.

```python
from transformers import AutoModel
model = AutoModel.from_pretrained("<this repo>", trust_remote_code=True, revision="<pin a commit>")
embeddings = model.encode(["a node text", "another"])
```

- Source graphs (trained on): {", ".join(sources)}
- Target graphs (never trained on): {", ".join(targets) or "none"}

## Zero-shot accuracy on the targets (%, all labelled nodes)

| graph | before training | after training | macro-F1 after |
|---|---|---|---|
{rows}

## Hyperparameters

```json
{json.dumps(hyper, indent=2)}
```
"""


def push_folder(folder: Path, repo_id: str, token=None, private: bool = False) -> str:
    """Uploads a saved ZeroG folder (config, code, tokenizer, adapter, card) to the Hub."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, exist_ok=True, private=private)
        return api.upload_folder(
            repo_id=repo_id, folder_path=str(folder), commit_message="Upload ZeroG adapter"
        ).commit_url
    except OSError as error:  # requests/httpx connection errors derive from OSError
        raise OSError(
            f"Could not push {folder} to the Hub as {repo_id!r}: {error}. Check the network and "
            f"`hf auth login`; the trained model is saved in {folder}."
        ) from error
