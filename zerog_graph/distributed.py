"""Work split across the processes of `accelerate launch`: the process state and sharded encoding."""

import torch


def process_state():
    """accelerate's process state. Without CUDA it is a CPU state, so that processes started by
    `accelerate launch --multi_gpu --num_processes N` (torchrun) form a gloo group on a CPU machine."""
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available())


def encode_sharded(
    model, texts: list, batch_size: int = 32, show_progress_bar: bool = False, **template_fields
) -> torch.Tensor:
    """`model.encode`, split across the processes of `accelerate launch` and gathered on all: each
    shard and its row numbers are padded to the longest shard and gathered as tensors. `template_fields` (`kind`,
    `labels`, `description`) go to `model.encode`."""
    from accelerate.utils import gather, pad_across_processes

    state = process_state()
    if state.num_processes == 1:
        return model.encode(texts, batch_size=batch_size, show_progress_bar=show_progress_bar, **template_fields)
    with state.split_between_processes(list(range(len(texts)))) as shard:
        embeds = model.encode(
            [texts[i] for i in shard],
            batch_size=batch_size,
            show_progress_bar=show_progress_bar and state.is_main_process,
            **template_fields,
        )
        rows = torch.tensor(shard, dtype=torch.long)
    rows = gather(pad_across_processes(rows.to(state.device), pad_index=-1)).cpu()
    embeds = gather(pad_across_processes(embeds.to(state.device))).cpu()
    merged = torch.empty(len(texts), embeds.size(1))
    merged[rows[rows >= 0]] = embeds[rows >= 0]
    return merged
