"""Encoding throughput of `ZeroGModel.encode` against two baselines, on the same texts and machine.

    python bench/encode_throughput.py [--num-texts 1000] [--decoder-texts 200]

MiniLM on the first Cora node texts (or WordNet glosses when ../shared/data is absent), in fp32 and
in bf16:
  - ours: `ZeroGModel.encode` (tokenize once, sort by length, batches of 32, mask-based pooling);
  - sentence-transformers: `SentenceTransformer(...).encode(batch_size=32)` on the same folder, in
    the same dtype;
  - the original ZeroG loop: tokenize and run one text at a time, keeping `[0][:, 0, :]`, in fp32
    as the original ran (and in bf16, to show what batching alone gives).
Then SmolLM2-135M (ours) in fp32 and bf16. Prints texts/s, tokens/s and the ratios; exits 1 when
ours is below 1.0x sentence-transformers in either dtype, or when ours in the project's default
dtype (`--dtype auto`: bf16 on CUDA or a CPU with AMX, else fp32) is below 5x the original loop.
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
from zerog_graph.precision import default_dtype  # noqa: E402
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
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    texts = bench_texts(args.num_texts)
    seconds, embeds = {}, {}
    for dtype in (torch.float32, torch.bfloat16):
        name = str(dtype).removeprefix("torch.")
        ours = load_model(str(minilm_dir()), dtype=dtype)
        st_model = SentenceTransformer(str(minilm_dir()), device="cpu", model_kwargs={"dtype": dtype})
        st_model.max_seq_length = ours.max_length
        ours.encode(texts[:32])  # warm-up, both
        st_model.encode(texts[:32], batch_size=32)
        start = time.perf_counter()
        embeds[name] = ours.encode(texts, batch_size=32)
        seconds[f"ZeroG encode, {name}"] = time.perf_counter() - start
        seconds[f"sentence-transformers, {name}"] = timed(lambda: st_model.encode(texts, batch_size=32))
        seconds[f"original one-text loop, {name}"] = timed(lambda: original_loop(ours.lm, ours.tokenizer, texts))
    tokens = sum(len(ids) for ids in ours.tokenize(texts, padding=False)["input_ids"])
    print(
        f"MiniLM on {len(texts)} texts, {tokens / len(texts):.0f} tokens per text, {torch.get_num_threads()} threads"
    )
    print(f"{'method':<34} {'seconds':>8} {'texts/s':>9} {'tokens/s':>9}")
    for name, time_s in seconds.items():
        print(f"{name:<34} {time_s:>8.2f} {len(texts) / time_s:>9.1f} {tokens / time_s:>9.0f}")
    agreement = torch.nn.functional.cosine_similarity(embeds["float32"], embeds["bfloat16"]).mean().item()
    print(f"mean cosine between our fp32 and bf16 embeddings: {agreement:.4f}")

    default = str(default_dtype("auto")).removeprefix("torch.")
    versus_st = {name: seconds[f"sentence-transformers, {name}"] / seconds[f"ZeroG encode, {name}"] for name in embeds}
    versus_loop = seconds["original one-text loop, float32"] / seconds[f"ZeroG encode, {default}"]
    for name, ratio in versus_st.items():
        print(f"ratio vs sentence-transformers, {name}: {ratio:.2f}x (goal >= 1.0x)")
    for name in embeds:
        same = seconds[f"original one-text loop, {name}"] / seconds[f"ZeroG encode, {name}"]
        print(f"ratio vs one-text loop, both {name} (batching alone): {same:.2f}x")
    print(f"ratio vs the original loop (fp32), ours in the default dtype ({default}): {versus_loop:.2f}x (goal >= 5x)")

    decoder_texts = texts[: args.decoder_texts]
    for dtype in (torch.float32, torch.bfloat16):
        smol = load_model("smollm2", dtype=dtype)
        smol_tokens = sum(len(ids) for ids in smol.tokenize(decoder_texts, padding=False)["input_ids"])
        smol.encode(decoder_texts[:8])
        time_s = timed(lambda: smol.encode(decoder_texts, batch_size=32))
        print(
            f"SmolLM2 {str(dtype).removeprefix('torch.'):<9} {len(decoder_texts)} texts (PromptEOL): {time_s:.2f} s, "
            f"{len(decoder_texts) / time_s:.1f} texts/s, {smol_tokens / time_s:.0f} tokens/s"
        )
    return 0 if min(versus_st.values()) >= 1.0 and versus_loop >= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
