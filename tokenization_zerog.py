"""Tokenising texts inside their templates (cut as ids, never the template), padding and batching, and
loading a tokenizer that never runs code. Travels to the Hub with the model."""

import os

import torch
from transformers import (
    AutoTokenizer,
    BatchEncoding,
)
from transformers.utils import logging

try:
    from .hub_zerog import one_line, read_hub_json
except ImportError:  # imported as a top-level module rather than as Hub remote code
    from hub_zerog import one_line, read_hub_json

# Under transformers' logger, as modeling_zerog.py's, so that `TRANSFORMERS_VERBOSITY` decides what is shown.
logger = logging.get_logger("transformers.modeling_zerog")


# Texts are cut to this many characters per token of `max_length` before tokenising, so that a long text costs
# memory in proportion to what is kept. Tokens average 3 to 5 characters: the cut never reaches kept tokens.
CHARS_PER_TOKEN = 64


# The JSON files of a tokenizer folder, checked before loading.
TOKENIZER_JSON_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")


def load_tokenizer(name_or_path: str, is_decoder: bool, lm_config=None, **hub_kwargs):
    """A tokenizer that pads with eos when it has no pad token, on the left for decoders.

    Never runs code from the folder or repository: no `trust_remote_code`, and with `lm_config` (the
    backbone's config) the folder's own config.json is not read, so a ZeroG folder's tokenizer is
    the backbone's tokenizer class."""
    if os.path.isdir(name_or_path):  # a damaged file is named, not met as a bare parse error inside tokenizers
        for filename in TOKENIZER_JSON_FILES:
            read_hub_json(name_or_path, filename)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            name_or_path, config=lm_config, trust_remote_code=False, **hub_kwargs
        )
    except (OSError, ValueError, ImportError):
        raise
    except Exception as error:  # tokenizers' own Exception for a tokenizer.json it cannot parse
        raise ValueError(f"{name_or_path}: the tokenizer cannot be loaded ({one_line(error)})") from None
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"The tokenizer of {name_or_path!r} has neither a pad nor an eos token.")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left" if is_decoder else "right"
    return tokenizer


def special_ids_around(tokenizer) -> tuple[list, list]:
    """The ids a tokenizer adds before and after a single text (e.g. BERT's [CLS] and [SEP]), read off a probe."""
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    start = next((i for i in range(len(full) - len(bare) + 1) if full[i : i + len(bare)] == bare), None)
    if start is None:
        raise ValueError(f"cannot tell the special tokens of {type(tokenizer).__name__} around a text: {full}")
    return full[:start], full[start + len(bare) :]


# The version of `tokenize_texts`' ids: raise it whenever a change gives any text different ids, so that
# embedding caches keyed on it (zerog_graph.cache) are not reused. 2: long texts cut as ids (templates kept).
# 3: texts first cut to `CHARS_PER_TOKEN * max_length` characters.
TOKENIZE_VERSION = 3


def tokenize_texts(tokenizer, texts: list, template=None, max_length: int = 512, padding=True):
    """Tokenize texts, each wrapped in `template`; truncation cuts the text, never the template.

    `template` is a format string with `{text}`, or its pieces around each `{text}` (`fill_template`'s tuple);
    with two slots (echo) the text fills both, each cut to half the room. A text that fits is tokenized with
    its template as one string. A longer one is cut as ids, with no decode and re-encode: the template's
    pieces and the text are tokenized apart, the text's ids cut to the room left, and all joined inside the
    tokenizer's special tokens. (Apart, a BPE tokenizer can split a boundary differently from the whole
    string, so texts that fit keep the one-string path.)

    A text that yields no token at all (an empty text, with a tokenizer that adds no special
    tokens) is encoded as the eos token, so that it still has a position to pool.

    Texts are first cut to `CHARS_PER_TOKEN * max_length` characters (from the end kept by the tokenizer's
    `truncation_side`), so that memory follows what is kept rather than the text's length."""
    chars, left = CHARS_PER_TOKEN * max_length, tokenizer.truncation_side == "left"
    texts = [text if len(text) <= chars else text[-chars:] if left else text[:chars] for text in texts]
    long, limit = set(), max_length
    if template is not None:
        pieces = template.split("{text}") if isinstance(template, str) else list(template)
        slots = len(pieces) - 1
        if slots not in (1, 2):
            raise ValueError(f"template {template!r} must hold {{text}} once or twice, not {slots} times")
        budget = (max_length - len(tokenizer("".join(pieces))["input_ids"])) // slots
        piece_ids = [tokenizer(piece, add_special_tokens=False)["input_ids"] for piece in pieces]
        head, tail = special_ids_around(tokenizer)
        room = (max_length - len(head) - sum(map(len, piece_ids)) - len(tail)) // slots
        if min(budget, room) < 1:
            shown = "{text}".join(pieces)
            shown = repr(shown) if len(shown) <= 200 else f"{shown[:200]!r}... ({len(shown):,} characters)"
            raise ValueError(f"max_length={max_length} leaves no room for text inside template {shown}")
        text_ids = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=max(budget, room))
        long = {i for i, ids in enumerate(text_ids["input_ids"]) if len(ids) >= budget}  # cut, or at the limit
        texts = ["" if i in long else text.join(pieces) for i, text in enumerate(texts)]
        limit = max_length + 1  # a string longer than max_length would lose the template's end: cut as ids too
    encoded = tokenizer(texts, truncation=True, max_length=limit)
    for i, ids in enumerate(encoded["input_ids"]):
        if i in long or len(ids) > max_length:
            text = text_ids["input_ids"][i]
            text = text[-room:] if tokenizer.truncation_side == "left" else text[:room]
            ids = head + piece_ids[0] + [token for piece in piece_ids[1:] for token in text + piece] + tail
            row = {"input_ids": ids, "attention_mask": [1] * len(ids), "token_type_ids": [0] * len(ids)}
            for key in encoded:
                encoded[key][i] = row[key]
    for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"]):
        if not ids:
            ids.append(tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.pad_token_id)
            mask.append(1)
    return pad_batch(encoded, tokenizer) if padding else encoded


# Batches tokenized in one call by `ZeroGModel.encode_batches`: enough texts for the fast tokenizer's threads, few
# enough that their ids stay small (64 batches of 32 texts of 512 tokens: 8 MB as lists of ints).
TOKENIZE_WINDOW = 64


def pad_batch(encoded, tokenizer) -> BatchEncoding:
    """`input_ids` and `attention_mask` of lists of ids as `[B, T]` tensors, padded on the tokenizer's side with its
    pad token: what `tokenizer.pad` gives for these two fields, without its per-item Python."""
    rows = encoded["input_ids"]
    width = max((len(row) for row in rows), default=0)
    input_ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    left = tokenizer.padding_side == "left"
    for i, row in enumerate(rows):
        columns = slice(width - len(row), width) if left else slice(0, len(row))
        input_ids[i, columns] = torch.tensor(row, dtype=torch.long)
        attention_mask[i, columns] = 1
    return BatchEncoding({"input_ids": input_ids, "attention_mask": attention_mask})


def length_order(texts: list) -> torch.Tensor:
    """Indices of `texts`, longest first by characters (a cheap stand-in for tokens), ties in their order: batches
    of similar length pad little, and an out-of-memory error comes at the first batch rather than the last."""
    lengths = torch.tensor([len(text) for text in texts], dtype=torch.long)
    return torch.sort(-lengths, stable=True).indices
