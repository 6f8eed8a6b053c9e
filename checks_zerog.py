"""ZeroG's argument checks: the one home of what every entry point refuses (the CLI, `load_graph`, `evaluate_graph`,
`ZeroGModel.encode`, `ZeroGModel.classify`, `from_pretrained`), so that a check added here holds everywhere.

Travels to the Hub with a published model beside `modeling_zerog.py` (which imports it relatively), so it imports
only torch, transformers and `configuration_zerog`. Every check raises a one-line ValueError or TypeError that names
the argument, item or node at fault.
"""

import unicodedata
from typing import Optional

import torch

try:
    from .configuration_zerog import LABEL_STATISTICS, PROPAGATIONS, check_num_rounds
except ImportError:  # imported as a top-level module rather than as Hub remote code
    from configuration_zerog import LABEL_STATISTICS, PROPAGATIONS, check_num_rounds


def refuse_unknown_kwargs(function: str, kwargs: dict) -> None:
    """A TypeError naming the first keyword argument in `kwargs`, as Python words it for a plain function."""
    if kwargs:
        raise TypeError(f"{function}() got an unexpected keyword argument {next(iter(kwargs))!r}")


# Device types a ZeroG model runs on, with the test that this machine has one.
DEVICE_TYPES = {
    "cpu": lambda: True,
    "cuda": lambda: torch.cuda.is_available(),
    "mps": lambda: torch.backends.mps.is_available(),
    "xpu": lambda: hasattr(torch, "xpu") and torch.xpu.is_available(),
}


def check_device(device, name: str = "device") -> torch.device:
    """`device` as a `torch.device`, or a ValueError saying why it cannot hold the model: not a device name, a
    device type ZeroG does not run on (`meta` holds no weights; `xla` and others), or one this machine lacks.

    Examples:
        >>> check_device("cpu")
        device(type='cpu')
        >>> check_device("meta")
        Traceback (most recent call last):
        ...
        ValueError: device='meta' cannot run a model (it holds no data); use one of cpu, cuda, mps, xpu
    """
    if isinstance(device, str) and not device.strip():
        raise ValueError(f"{name}={device!r} is empty; give a device such as 'cpu' or 'cuda'")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise ValueError(f"{name}={device!r} is not a device ({reason})") from None
    if device.type == "meta":
        raise ValueError(f"{name}='meta' cannot run a model (it holds no data); use one of {', '.join(DEVICE_TYPES)}")
    if device.type not in DEVICE_TYPES:
        raise ValueError(f"{name}={str(device)!r}: ZeroG runs on {', '.join(DEVICE_TYPES)}, not {device.type}")
    if not DEVICE_TYPES[device.type]():
        raise ValueError(f"{name}={str(device)!r}, but {device.type.upper()} is not available on this machine")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"{name}={str(device)!r}, but this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def check_positive_int(value, name: str) -> int:
    """`value`, an int of 1 or more (not a bool or a float); else a ValueError naming `name`.

    Examples:
        >>> check_positive_int(-1, "batch_size")
        Traceback (most recent call last):
        ...
        ValueError: batch_size must be a positive integer, got -1
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_flag(value, name: str) -> bool:
    """`value`, a bool (not "yes", not 1); else a ValueError naming `name`."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def check_unicode(value: str, position: str) -> None:
    """Refuses a string that UTF-8 cannot encode (a lone surrogate, as JSON's `\\ud800` gives), naming `position`."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"{position} holds a lone surrogate at character {error.start} (not valid Unicode)") from None


def check_texts(texts, name: str) -> list:
    """`texts` as a list of strings; a ValueError naming `name` for one string (whose characters would be the
    items), another type, an item that is not a string or one that is not valid Unicode."""
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise ValueError(f"{name} must be a list of strings, got {type(texts).__name__}")
    bad = next((i for i, text in enumerate(texts) if not isinstance(text, str)), None)
    if bad is not None:
        raise ValueError(f"{name}[{bad}] is {type(texts[bad]).__name__}, not str")
    for i, text in enumerate(texts):
        check_unicode(text, f"{name}[{i}]")
    return list(texts)


def check_not_all_blank(texts: list, name: str) -> None:
    """Refuses texts that are all empty or blank: every node would get the same embedding."""
    if texts and not any(text.strip() for text in texts):
        raise ValueError(f"{name}: all {len(texts)} texts are empty or blank; there is nothing to classify by")


def name_key(name: str) -> str:
    """What a class name is compared by: NFKC-normalised, without Unicode format characters (category Cf: zero-width
    spaces, soft hyphens, bidi marks, which tokenizers drop), case-folded, `_` as a space, runs of spaces as one
    (the class text encoded for a name replaces `_` with a space; tokenizers normalise much of the rest)."""
    visible = "".join(char for char in unicodedata.normalize("NFKC", name) if unicodedata.category(char) != "Cf")
    return " ".join(visible.casefold().replace("_", " ").split())


def same_names(names: list) -> Optional[tuple]:
    """The positions `(i, j)` of the first pair of `names` equal by `name_key`, or None.

    Examples:
        >>> same_names(["Cat", "dog", "cat"])
        (0, 2)
    """
    seen = {}
    for j, name in enumerate(names):
        i = seen.setdefault(name_key(name), j)
        if i != j:
            return i, j
    return None


def class_pair(first: str, second: str) -> str:
    """The refusal of two class names that are one class to the model (and to a reader of the CSV)."""
    if first == second:
        return f"names class {first!r} twice"
    return (  # ascii(): two Unicode forms of one name look alike, their escapes do not
        f"names classes {ascii(first)} and {ascii(second)}, the same name once case, Unicode form, '_' and spaces are "
        f"normalised: their embeddings would coincide and one could never be predicted; rename one"
    )


def check_class_names(names: list, where: str) -> None:
    """Refuses class names of which there is one (every node would be predicted as it, with confidence 1), one is
    empty (or blank, or only invisible characters) or two are one class (`same_names`); the ValueError names `where`
    and the class or the pair."""
    if len(names) == 1:
        raise ValueError(f"{where} has one class ({names[0]!r}); zero-shot classification needs two or more")
    empty = next((i for i, name in enumerate(names) if not name_key(name)), None)
    if empty is not None:
        raise ValueError(f"{where}[{empty}] = {names[empty]!r} is an empty class name")
    pair = same_names(names)
    if pair is not None:
        raise ValueError(f"{where} {class_pair(*(names[i] for i in pair))}")


def check_label_texts(label_texts: list, class_names: list, where: str) -> None:
    """Refuses label texts that are not one per class, or two that are the same text once normalised."""
    if len(label_texts) != len(class_names):
        raise ValueError(f"{where} has {len(label_texts)} entries for {len(class_names)} classes")
    pair = same_names(label_texts)
    if pair is not None:
        first, second = (class_names[i] for i in pair)
        raise ValueError(f"{where} of classes {first!r} and {second!r} are the same text")


def check_finite(embeds: torch.Tensor, name: str, backbone: str) -> None:
    """Refuses NaN or infinite embeddings, naming the model."""
    if not torch.isfinite(embeds).all():
        bad = int((~torch.isfinite(embeds)).any(-1).sum())
        raise ValueError(
            f"Model {name!r} (backbone {backbone!r}) gives NaN or infinite embeddings for {bad} of {len(embeds)} "
            f"texts: its weights or config (e.g. lora_alpha) are broken, or the dtype overflows; refused"
        )


def check_edge_index(edge_index: torch.Tensor, num_nodes: int) -> None:
    """Refuses an `edge_index` that is not a `[2, E]` integer tensor of node ids in `[0, num_nodes)`: an id out of
    range would silently become another edge (edges are keyed `row * num_nodes + col`) or crash a sparse kernel."""
    if not isinstance(edge_index, torch.Tensor) or edge_index.is_floating_point() or edge_index.dtype == torch.bool:
        kind = f"a {edge_index.dtype} tensor" if isinstance(edge_index, torch.Tensor) else type(edge_index).__name__
        raise ValueError(f"edge_index is {kind}; expected an integer tensor of node indices")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index has shape {tuple(edge_index.shape)}; expected (2, E)")
    bad = ((edge_index < 0) | (edge_index >= num_nodes)).any(0).nonzero().flatten()
    if bad.numel():
        edge = int(bad[0])
        raise ValueError(f"edge {edge} {edge_index[:, edge].tolist()} is out of range for {num_nodes} nodes")


def is_index(value) -> bool:
    """Whether `value` is an integer node index: an int, a numpy or 0-d torch integer; not a bool or a float."""
    if isinstance(value, bool) or isinstance(value, torch.Tensor) and (value.dim() or value.is_floating_point()):
        return False
    return isinstance(value, int) or (hasattr(value, "__index__") and type(value).__module__ in ("numpy", "torch"))


def edge_index_from(edge_index, num_nodes: int) -> torch.Tensor:
    """`[2, E]` long edges from a `[2, E]` integer tensor or numpy array (PyG's layout) or a list of `(i, j)` pairs,
    checked by `check_edge_index`. What could be read both ways is refused rather than guessed: a `[2, 2]` tensor
    (pass its edges as a list of `(i, j)` tuples), a list of two lists that are not pairs (a `[2, E]` list: pass a
    tensor), and a list of two lists that are pairs (`[[0, 1], [2, 3]]`: tuples say they are edges).

    Examples:
        >>> edge_index_from([(0, 1), (1, 2)], 3).tolist()
        [[0, 1], [1, 2]]
        >>> edge_index_from(torch.tensor([[0, 1], [1, 2]]), 3)
        Traceback (most recent call last):
        ...
        ValueError: edge_index is a [2, 2] tensor: 2 edges as [2, E] or as [E, 2] pairs? Pass a list of (i, j) tuples
    """
    if edge_index is None:
        raise ValueError("edge_index is None; pass a [2, E] integer tensor or a list of (i, j) pairs ([] for none)")
    if type(edge_index).__module__ == "numpy":  # an array is a tensor's layout: [2, E]
        try:
            edge_index = torch.as_tensor(edge_index)
        except (TypeError, RuntimeError):
            raise ValueError(f"edge_index is a numpy array of {edge_index.dtype}; expected integer indices") from None
    if isinstance(edge_index, torch.Tensor):
        if edge_index.layout != torch.strided:
            raise ValueError(f"edge_index is a {edge_index.layout} tensor; pass a dense one (.to_dense())")
        if tuple(edge_index.shape) == (2, 2):
            raise ValueError(
                "edge_index is a [2, 2] tensor: 2 edges as [2, E] or as [E, 2] pairs? Pass a list of (i, j) tuples"
            )
        if edge_index.dim() == 2 and edge_index.size(1) == 2 and edge_index.size(0) not in (0, 2):
            raise ValueError(f"edge_index has shape {tuple(edge_index.shape)}, pairs as rows; pass edge_index.T")
        edges = edge_index.reshape(2, -1) if edge_index.numel() == 0 else edge_index
    elif not isinstance(edge_index, (list, tuple)):
        raise ValueError(f"edge_index is {type(edge_index).__name__}; expected a [2, E] tensor or a list of pairs")
    else:
        pairs = list(edge_index)
        if len(pairs) == 2 and all(isinstance(pair, list) for pair in pairs):
            raise ValueError(
                f"edge_index = {pairs!r} reads as [2, E] or as {len(pairs)} pairs: pass a [2, E] tensor, or the "
                "pairs as (i, j) tuples"
            )
        for i, pair in enumerate(pairs):
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(map(is_index, pair))):
                raise ValueError(f"edge_index[{i}] = {pair!r} is not a pair (i, j) of node indices")
        edges = torch.tensor([[int(i), int(j)] for i, j in pairs], dtype=torch.long).reshape(-1, 2).T
    check_edge_index(edges, num_nodes)
    return edges.long()


def sentence_transformers_options(convert_to_numpy, convert_to_tensor, precision, output_value) -> bool:
    """Whether `encode` returns numpy, from sentence-transformers' output keywords: `convert_to_tensor=True` wins
    over `convert_to_numpy`, as there. What ZeroG does not produce is refused, naming why: `precision` other than
    float32, `output_value` other than "sentence_embedding"."""
    check_flag(convert_to_numpy, "convert_to_numpy")
    check_flag(convert_to_tensor, "convert_to_tensor")
    if precision != "float32":
        raise ValueError(
            f"precision={precision!r}: encode returns float32 embeddings only; quantise them afterwards "
            "(sentence_transformers.quantization.quantize_embeddings)"
        )
    if output_value != "sentence_embedding":
        raise ValueError(
            f"output_value={output_value!r}: encode returns pooled sentence embeddings only (ZeroG scores "
            "pooled vectors; token embeddings are the backbone's: model.lm(...).last_hidden_state)"
        )
    return convert_to_numpy and not convert_to_tensor


# `from_pretrained` keywords that ZeroG does not apply, with the reason and what to do instead (their defaults are
# taken out before: `modeling_zerog.UNSUPPORTED_HUB_KWARGS`).
REFUSED_LOADING_KWARGS = {
    "force_download": "ZeroG reads files the Hub cache holds; delete them there (`hf cache delete`) to download again",
    "proxies": "set HTTPS_PROXY in the environment, which huggingface_hub reads",
    "subfolder": "a ZeroG model is a repository's root; give the folder itself",
}
# `PreTrainedModel.from_pretrained` keywords that change nothing for ZeroG (the backbone loads itself, on the CPU,
# then moves whole), accepted as booleans.
NO_EFFECT_LOADING_KWARGS = ("low_cpu_mem_usage",)


def loading_options(kwargs: dict, device=None, dtype=None) -> dict:
    """Takes out of `kwargs` the keywords transformers users pass to `from_pretrained` and returns what ZeroG makes
    of them: `device` (from `device`, or a `device_map` naming one device; "auto": the GPU if there is one),
    `dtype` (`dtype` or `torch_dtype`, a `torch.dtype` or its name; "auto": the backbone's default),
    `attn_implementation` (given to the backbone) and `output_loading_info`. What cannot be honoured is refused
    naming why: `use_safetensors=False` (pickles never load), a `device_map` spreading the model over devices.

    Examples:
        >>> options = {"torch_dtype": "bfloat16", "device_map": "cpu", "low_cpu_mem_usage": True}
        >>> loading_options(options)["dtype"], options
        (torch.bfloat16, {})
    """
    refused = next((key for key in REFUSED_LOADING_KWARGS if key in kwargs), None)
    if refused is not None:
        raise ValueError(f"{refused}={kwargs[refused]!r} is not applied: {REFUSED_LOADING_KWARGS[refused]}")
    for key in NO_EFFECT_LOADING_KWARGS:
        if key in kwargs:
            check_flag(kwargs.pop(key), key)
    if kwargs.pop("use_safetensors", None) is False:
        raise ValueError("use_safetensors=False: ZeroG loads safetensors only (a pickle is never unpickled)")
    output_loading_info = check_flag(kwargs.pop("output_loading_info", False), "output_loading_info")
    device_map = kwargs.pop("device_map", None)
    if isinstance(device_map, dict):
        places = {str(place) for place in device_map.values()}
        if len(places) != 1:
            raise ValueError(
                f"device_map places the model on {len(places)} devices; ZeroG runs on one (pass device=...)"
            )
        device_map = places.pop()
    if device_map == "auto":
        device_map = "cuda" if torch.cuda.is_available() else "cpu"
    elif device_map in ("balanced", "balanced_low_0", "sequential"):
        raise ValueError(f"device_map={device_map!r} spreads the model over devices; ZeroG runs on one")
    if isinstance(device_map, int) and not isinstance(device_map, bool):
        device_map = f"cuda:{device_map}"
    if device_map is not None:
        mapped = check_device(device_map, "device_map")
        if device is not None and check_device(device) != mapped:
            raise ValueError(f"device={str(device)!r} and device_map={str(mapped)!r} disagree; give one")
        device = mapped
    torch_dtype = kwargs.pop("torch_dtype", None)
    if dtype is not None and torch_dtype is not None and dtype != torch_dtype:
        raise ValueError(f"dtype={dtype!r} and torch_dtype={torch_dtype!r} disagree; give one (dtype)")
    dtype = dtype if dtype is not None else torch_dtype
    if isinstance(dtype, str):
        named = getattr(torch, dtype, None) if dtype != "auto" else None
        if dtype != "auto" and not isinstance(named, torch.dtype):
            raise ValueError(f"dtype={dtype!r} is not a torch dtype (e.g. 'float32', 'bfloat16', 'auto')")
        dtype = named
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype={dtype!r} is not a floating-point torch dtype")
    attn = kwargs.pop("attn_implementation", None)
    if attn is not None and not isinstance(attn, str):
        raise ValueError(f"attn_implementation must be a string such as 'sdpa' or 'eager', got {attn!r}")
    return {
        "device": None if device is None else check_device(device),
        "dtype": dtype,
        "attn_implementation": attn,
        "output_loading_info": output_loading_info,
    }


def check_scoring_settings(num_rounds, standardize, label_statistics, propagation, batch_size) -> None:
    """Refuses `evaluate_graph`'s settings of the wrong type or range, as the CLI's options and `classify` do."""
    check_flag(standardize, "standardize")
    if label_statistics not in LABEL_STATISTICS:
        raise ValueError(f"label_statistics must be one of {LABEL_STATISTICS}, got {label_statistics!r}")
    if propagation not in PROPAGATIONS:
        raise ValueError(f"propagation must be one of {tuple(PROPAGATIONS)}, got {propagation!r}")
    check_positive_int(batch_size, "batch_size")
    check_num_rounds(num_rounds, "num_rounds")
