"""Encoding throughput of `ZeroGModel.encode` against two baselines, on the same texts and machine.

    python bench/encode_throughput.py [--num-texts 1000] [--decoder-texts 200]

MiniLM, fp32, on the first Cora node texts (or WordNet glosses when ../shared/data is absent):
  - ours: `ZeroGModel.encode` (tokenize once, sort by length, batches of 32, mask-based pooling);
  - sentence-transformers: `SentenceTransformer(...).encode(batch_size=32)` on the same folder;
  - the original ZeroG loop: tokenize and run one text at a time, keeping `[0][:, 0, :]`.
Then SmolLM2-135M (ours) in fp32 and bf16. Prints texts/s, tokens/s and the ratios; exits 1 when
ours is below 1.0x sentence-transformers or below 5x the one-text loop.
"""

import argparse
import os
import sys
import time

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ZEROG_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))

from zerog_graph.backbones import minilm_dir  # noqa: E402
from zerog_graph.graph import GraphError  # noqa: E402
from zerog_graph.models import load_model  # noqa: E402
from zerog_graph.registry import load_graph  # noqa: E402


def bench_texts(count: int) -> list:
    try:
        texts = load_graph("cora").texts
    except GraphError:
        texts = load_graph("wordnet").texts
    return texts[:count]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def original_loop(model, tokenizer, texts):
    with torch.no_grad():
        for text in texts:
            inputs = tokenizer(text, return_tensors="pt", truncation=True, max_length=512)
            model(**inputs)[0][:, 0, :]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-texts", type=int, default=1000)
    parser.add_argument("--decoder-texts", type=int, default=200)
    args = parser.parse_args()
    torch.manual_seed(0)
    texts = bench_texts(args.num_texts)
    ours = load_model(str(minilm_dir()), dtype=torch.float32)
    tokens = sum(len(ids) for ids in ours.tokenize(texts, padding=False)["input_ids"])

    from sentence_transformers import SentenceTransformer

    st_model = SentenceTransformer(str(minilm_dir()), device="cpu")
    st_model.max_seq_length = ours.max_length
    ours.encode(texts[:32])  # warm-up, both
    st_model.encode(texts[:32], batch_size=32)
    rows = {
        "ZeroG encode (MiniLM fp32)": timed(lambda: ours.encode(texts, batch_size=32)),
        "sentence-transformers encode": timed(lambda: st_model.encode(texts, batch_size=32)),
        "original one-text loop": timed(lambda: original_loop(ours.lm, ours.tokenizer, texts)),
    }
    print(
        f"MiniLM on {len(texts)} texts, {tokens / len(texts):.0f} tokens per text, {torch.get_num_threads()} threads"
    )
    print(f"{'method':<32} {'seconds':>8} {'texts/s':>9} {'tokens/s':>9}")
    for name, seconds in rows.items():
        print(f"{name:<32} {seconds:>8.2f} {len(texts) / seconds:>9.1f} {tokens / seconds:>9.0f}")
    versus_st = rows["sentence-transformers encode"] / rows["ZeroG encode (MiniLM fp32)"]
    versus_loop = rows["original one-text loop"] / rows["ZeroG encode (MiniLM fp32)"]
    print(f"ratio vs sentence-transformers: {versus_st:.2f}x (goal >= 1.0x)")
    print(f"ratio vs one-text loop:         {versus_loop:.2f}x (goal >= 5x)")

    decoder_texts = texts[: args.decoder_texts]
    for dtype in (torch.float32, torch.bfloat16):
        smol = load_model("smollm2", dtype=dtype)
        smol_tokens = sum(len(ids) for ids in smol.tokenize(decoder_texts, padding=False)["input_ids"])
        smol.encode(decoder_texts[:8])
        seconds = timed(lambda: smol.encode(decoder_texts, batch_size=32))
        print(
            f"SmolLM2 {str(dtype).removeprefix('torch.'):<9} {len(decoder_texts)} texts (PromptEOL): {seconds:.2f} s, "
            f"{len(decoder_texts) / seconds:.1f} texts/s, {smol_tokens / seconds:.0f} tokens/s"
        )
    return 0 if versus_st >= 1.0 and versus_loop >= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
