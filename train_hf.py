"""Fine-tune a ZeroG backbone with LoRA or QLoRA on source graphs; evaluate zero-shot on targets.

    accelerate launch train_hf.py --model_name_or_path minilm --source_graphs cora citeseer \
        --target_graphs dblp --output_dir out/minilm-zerog --max_steps 300

Data flow: graphs -> SubgraphDataset -> ZeroGCollator -> ZeroGModel (encode -> propagate -> score)
-> ZeroGTrainer. The output folder is a ZeroG model: config, code, tokenizer, adapter, model card.
"""

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from transformers import HfArgumentParser, TrainingArguments, set_seed


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default="minilm", metadata={"help": "Backbone: short name, Hub id or local folder."}
    )
    pooling_mode: str = field(default="auto", metadata={"help": "auto | last | cls | mean."})
    template: Optional[str] = field(
        default=None, metadata={"help": "Format string with {text}; decoders default to PromptEOL, '' for none."}
    )
    max_seq_length: int = field(default=256, metadata={"help": "Tokens per text, template included."})
    lora_r: Optional[int] = field(
        default=None, metadata={"help": "LoRA rank (default: 8 for decoders, 4 for encoders)."}
    )
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: Optional[list[str]] = field(
        default=None, metadata={"help": "Modules for LoRA (default: the architecture's row of the table)."}
    )
    load_in_4bit: bool = field(default=False, metadata={"help": "QLoRA: load the backbone in 4-bit nf4."})
    load_in_8bit: bool = field(default=False, metadata={"help": "QLoRA: load the backbone in 8-bit."})
    full_finetune: bool = field(
        default=False, metadata={"help": "Train every backbone weight (refused: ZeroG publishes adapters)."}
    )
    logit_scale: float = field(default=10.0, metadata={"help": "Scale of the cosine similarities in the loss."})


@dataclass
class DataArguments:
    source_graphs: list[str] = field(metadata={"help": "Graphs to train on: registry names or files."})
    target_graphs: list[str] = field(
        default_factory=list, metadata={"help": "Graphs to evaluate zero-shot on; never trained on."}
    )
    num_subgraphs: int = field(default=500, metadata={"help": "Subgraphs sampled per source graph."})
    k_hops: int = field(default=2, metadata={"help": "Subgraph radius."})
    max_nodes: int = field(default=30, metadata={"help": "Most nodes per subgraph."})
    min_classes: Optional[int] = field(
        default=None, metadata={"help": "Fewest classes per subgraph (default: ceil(C/2))."}
    )
    num_rounds: int = field(default=2, metadata={"help": "Propagation rounds R."})
    standardize: bool = field(default=True, metadata={"help": "ZeroG's if_norm standardisation."})
    num_source_eval_subgraphs: int = field(
        default=0,
        metadata={"help": "Fixed source subgraphs whose loss is reported before, during and after training."},
    )
    overwrite_output: bool = field(default=False, metadata={"help": "Replace a model already in --output_dir."})


def check_arguments(model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments):
    overlap = {g.lower() for g in data_args.source_graphs} & {g.lower() for g in data_args.target_graphs}
    if overlap:
        raise ValueError(f"target graphs must be unseen in training, but {sorted(overlap)} are also sources")
    if model_args.load_in_4bit and model_args.load_in_8bit:
        raise ValueError("choose one of --load_in_4bit and --load_in_8bit")
    output = Path(training_args.output_dir)
    if (output / "config.json").exists() and not (data_args.overwrite_output or training_args.resume_from_checkpoint):
        raise ValueError(
            f"{output} already holds a model; pass --overwrite_output to replace it, "
            f"or --resume_from_checkpoint to continue"
        )


def build_model(model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments):
    from zerog_graph.models import backbone_config, load_model

    if model_args.full_finetune:
        _, _, lm_config, is_decoder = backbone_config(model_args.model_name_or_path)
        kind = "a decoder" if is_decoder else "an encoder"
        raise ValueError(
            f"Full fine-tuning of {kind} ({lm_config.model_type}) is refused: ZeroG trains and publishes a "
            f"LoRA adapter. Drop --full_finetune (LoRA), or add --load_in_4bit for QLoRA."
        )
    quantization = "4bit" if model_args.load_in_4bit else "8bit" if model_args.load_in_8bit else None
    return load_model(
        model_args.model_name_or_path,
        pooling_mode=model_args.pooling_mode,
        template=model_args.template,
        use_lora=True,
        quantization=quantization,
        lora_r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        lora_target_modules=model_args.lora_target_modules,
        max_seq_length=model_args.max_seq_length,
        logit_scale=model_args.logit_scale,
        num_rounds=data_args.num_rounds,
        standardize=data_args.standardize,
        gradient_checkpointing=training_args.gradient_checkpointing,
    )


def main(argv: Optional[list] = None) -> dict:
    from zerog_graph.collator import ZeroGCollator
    from zerog_graph.registry import load_graph
    from zerog_graph.sampling import SubgraphDataset
    from zerog_graph.trainer import ZeroGTrainer, model_card, push_folder

    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    check_arguments(model_args, data_args, training_args)
    push_to_hub, training_args.push_to_hub = training_args.push_to_hub, False  # pushed once, with the card
    training_args.remove_unused_columns = False  # the collator needs every field of a subgraph
    set_seed(training_args.seed)

    sources = [load_graph(g) for g in data_args.source_graphs]
    targets = [load_graph(g) for g in data_args.target_graphs]
    model = build_model(model_args, data_args, training_args)
    train_dataset = SubgraphDataset(
        sources,
        data_args.num_subgraphs,
        data_args.k_hops,
        data_args.max_nodes,
        data_args.min_classes,
        seed=training_args.seed,
    )
    collator = ZeroGCollator(model.tokenizer, model.config.template, model.max_length)
    held_aside = SubgraphDataset(
        sources,
        data_args.num_source_eval_subgraphs,
        data_args.k_hops,
        data_args.max_nodes,
        data_args.min_classes,
        seed=training_args.seed + 1,
    )
    trainer = ZeroGTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=targets,
        data_collator=collator,
        processing_class=model.tokenizer,
        source_subgraphs=[collator([held_aside[i]]) for i in range(len(held_aside))],
    )
    evaluates = bool(targets or trainer.source_subgraphs)
    before = trainer.evaluate(metric_key_prefix="before") if evaluates else {}
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    after = trainer.evaluate(metric_key_prefix="after") if evaluates else {}

    results = {
        g.name: {
            when: {metric: scores[f"{when}_{g.name}_{metric}"] for metric in ("accuracy", "macro_f1")}
            for when, scores in (("before", before), ("after", after))
        }
        for g in targets
    }
    output = Path(training_args.output_dir)
    if trainer.is_world_process_zero():
        trainer.save_model(str(output))
        record = {"sources": data_args.source_graphs, "targets": data_args.target_graphs, "results": results}
        if trainer.source_subgraphs:
            record["source_loss"] = {"before": before["before_source_loss"], "after": after["after_source_loss"]}
        (output / "zero_shot_results.json").write_text(json.dumps(record, indent=2) + "\n")
        (output / "README.md").write_text(
            model_card(model, data_args.source_graphs, data_args.target_graphs, training_args, results)
        )
        if push_to_hub:
            print(
                push_folder(
                    output, training_args.hub_model_id, training_args.hub_token, training_args.hub_private_repo
                )
            )
    return results


if __name__ == "__main__":
    try:
        main()
    except (ValueError, OSError, ImportError) as error:
        print(f"train_hf.py: error: {error}", file=sys.stderr)
        sys.exit(2)
