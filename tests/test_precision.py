"""`--dtype auto` per kind of machine, the int8 path, and int8 in the cache key."""

import json
import warnings

import pytest
import torch
from torch import nn

from zerog_graph import precision
from zerog_graph.cache import model_fingerprint
from zerog_graph.cli import main as cli
from zerog_graph.models import load_model
from zerog_graph.precision import apply_precision, default_dtype, precision_of, quantize_int8

TEXTS = ["neural networks learn from data", "sql query optimisation", "the cat sat on the mat", "graph propagation"]


@pytest.fixture(scope="module")
def minilm_int8(minilm_path):
    return quantize_int8(load_model(minilm_path))


def machine(monkeypatch, cuda=False, amx=False, vnni=False, bf16_dot=False, bf16_speedup=None):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: amx)
    monkeypatch.setattr(precision, "cpu_has_int8_dot", lambda: vnni)
    monkeypatch.setattr(precision, "cpu_has_bf16_dot", lambda: bf16_dot)

    def probe():
        assert bf16_speedup is not None, "probed a machine that needs no probe"
        return bf16_speedup

    monkeypatch.setattr(precision, "cpu_bf16_speedup", probe)


@pytest.mark.parametrize(
    "kernel_flags, expected",
    [
        ({"avx512f", "avx512_vnni"}, "fp32"),  # a VNNI-only Xeon whose CPUID (a VM's) claims bf16: no probe
        ({"avx512f", "avx512_vnni", "avx512_bf16"}, "probe"),
        ({"avx512_bf16", "amx_bf16", "amx_tile"}, "bf16"),
        (None, "probe"),  # no /proc/cpuinfo: torch's checks decide
    ],
)
def test_auto_reads_the_kernels_cpu_flags(monkeypatch, kernel_flags, expected):
    """`auto` takes bf16 (or probes for it) only where /proc/cpuinfo lists the bf16 instructions as well."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: kernel_flags is not None)
    monkeypatch.setattr(precision, "cpu_flags", lambda: kernel_flags)
    probed = []
    monkeypatch.setattr(precision, "cpu_bf16_speedup", lambda: probed.append(1) or 0.5)
    chosen = precision.auto_float_precision()
    assert ("probe" if probed else chosen) == expected


def test_cpu_flags_come_from_proc_cpuinfo():
    flags = precision.cpu_flags()
    assert flags is None or {"fpu"} <= flags or "fp" in flags  # x86 lists fpu; arm64 lists fp


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags, encoder, decoder",
    [
        (dict(cuda=True, vnni=True), "bfloat16", "bfloat16"),
        (dict(amx=True, vnni=True), "bfloat16", "bfloat16"),
        # AVX512-BF16 without AMX: as the probe finds (Xeon about 0.6x, AMD EPYC about 2.8x); int8 opt-in
        (dict(vnni=True, bf16_dot=True, bf16_speedup=0.6), "float32", "float32"),
        (dict(vnni=True, bf16_dot=True, bf16_speedup=2.8), "bfloat16", "bfloat16"),
        (dict(), "float32", "float32"),
    ],
)
def test_auto_picks_per_machine(monkeypatch, minilm_path, tiny_backbones, flags, encoder, decoder):
    machine(monkeypatch, **flags)
    for path, expected in ((minilm_path, encoder), (tiny_backbones["llama"], decoder)):
        model = load_model(path, dtype=default_dtype("auto"))
        assert apply_precision(model, "auto", "cuda" if flags.get("cuda") else "cpu") == expected


def test_bf16_probe_times_once_per_machine_and_follows_the_timing(monkeypatch, tmp_path):
    monkeypatch.setenv("ZEROG_CACHE", str(tmp_path))
    timings = {torch.float32: 1.0, torch.bfloat16: 2.0}  # bf16 twice as slow, as on a Xeon without AMX
    calls = []
    monkeypatch.setattr(precision, "time_matmul", lambda dtype: calls.append(dtype) or timings[dtype])
    assert precision.cpu_bf16_speedup() == 0.5 and len(calls) == 2
    assert precision.cpu_bf16_speedup() == 0.5 and len(calls) == 2  # from $ZEROG_CACHE/cpu_probe.json
    machine(monkeypatch, bf16_dot=True, bf16_speedup=0.5)
    assert default_dtype("auto") == torch.float32
    (tmp_path / "cpu_probe.json").write_text("{not json")  # a damaged record is timed again, not trusted
    monkeypatch.undo()
    monkeypatch.setenv("ZEROG_CACHE", str(tmp_path))
    timings = {torch.float32: 3.0, torch.bfloat16: 1.0}
    monkeypatch.setattr(precision, "time_matmul", lambda dtype: timings[dtype])
    assert precision.cpu_bf16_speedup() == 3.0


def test_real_probe_on_this_cpu_decides_auto():
    if torch.cuda.is_available() or precision.cpu_has_amx() or not precision.cpu_has_bf16_dot():
        pytest.skip("the probe runs only on a CPU with AVX512-BF16 and without AMX")
    speedup = precision.time_matmul(torch.float32) / precision.time_matmul(torch.bfloat16)
    assert 0.05 < speedup < 50
    expected = torch.bfloat16 if precision.cpu_bf16_speedup() >= precision.BF16_MIN_SPEEDUP else torch.float32
    assert default_dtype("auto") == expected


@pytest.mark.slow
def test_int8_quantises_every_backbone_linear_and_stays_close(minilm, minilm_int8):
    layers = [m for m in minilm_int8.lm.modules() if isinstance(m, precision.Int8Linear)]
    assert len(layers) == sum(type(m) is nn.Linear for m in minilm.lm.modules()) > 30
    assert not any(type(m) is nn.Linear for m in minilm_int8.lm.modules())
    assert precision_of(minilm_int8) == "int8" and precision_of(minilm) == "float32"
    similarity = nn.functional.cosine_similarity(minilm.encode(TEXTS), minilm_int8.encode(TEXTS))
    assert similarity.min() > 0.998  # per-channel int8 weights, float activations: close to fp32 ...
    assert not torch.allclose(minilm.encode(TEXTS), minilm_int8.encode(TEXTS), atol=1e-4)  # ... but is not it


@pytest.mark.slow
def test_int8_is_in_the_cache_key(minilm, minilm_int8):
    assert model_fingerprint(minilm) != model_fingerprint(minilm_int8)


def test_int8_weights_are_per_channel_and_raise_no_deprecation(minilm_path):
    """One scale per output channel, from the maintained tensor API: no torch.ao (deprecated in torch 2.13)."""
    model = load_model(minilm_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quantize_int8(model)
        model.encode(TEXTS[:1])
    assert [str(w.message) for w in caught if "quantiz" in str(w.message) or "deprecat" in str(w.message)] == []
    layer = model.lm.encoder.layer[0].intermediate.dense
    reference = load_model(minilm_path).lm.encoder.layer[0].intermediate.dense.weight
    assert isinstance(layer, precision.Int8Linear) and layer.weight_int8.dtype == torch.int8
    assert layer.scale.shape == (reference.shape[0],)
    assert torch.allclose(layer.scale, reference.abs().amax(1) / 127)
    dequantised = layer.weight_int8.float() * layer.scale[:, None]
    assert ((dequantised - reference).abs() <= layer.scale[:, None] / 2 + 1e-7).all()  # within half a step per row


@pytest.mark.slow
def test_int8_keeps_lora_layers_float_so_the_adapter_keys_the_cache(tiny_backbones):
    model = load_model(tiny_backbones["bert"], use_lora=True)
    with torch.no_grad():
        for name, param in model.lm.named_parameters():
            if "lora_B" in name:
                param.normal_()
    quantize_int8(model)
    lora = [m for name, m in model.lm.named_modules() if "lora_" in name and isinstance(m, nn.Linear)]
    assert lora and all(type(m) is nn.Linear for m in lora)
    assert precision_of(model) == "int8" and model.encode(TEXTS).shape == (4, 64)
    before = model_fingerprint(model)
    with torch.no_grad():
        next(p for n, p in model.lm.named_parameters() if "lora_B" in n).add_(1.0)
    assert model_fingerprint(model) != before


def test_int8_is_refused_off_the_cpu_and_with_bitsandbytes(minilm_path, monkeypatch):
    model = load_model(minilm_path)
    with pytest.raises(ValueError, match="CPU only"):
        apply_precision(model, "int8", device="cuda")
    monkeypatch.setattr(model.config, "quantization", "4bit")
    with pytest.raises(ValueError, match="cannot be combined with quantization='4bit'"):
        quantize_int8(model)


def test_cli_dtype_int8_records_the_precision(minilm_path, tmp_path, monkeypatch, capsys):
    graph = {"texts": TEXTS, "edges": [[0, 3]], "labels": [0, 1, 2, 0], "description": "short texts"}
    graph["label_names"] = ["machine learning", "databases", "animals"]
    (tmp_path / "toy.json").write_text(json.dumps(graph))
    monkeypatch.setenv("ZEROG_CACHE", str(tmp_path / "cache"))
    command = ["eval", "--model", minilm_path, "--graph", str(tmp_path / "toy.json"), "--dtype", "int8"]
    assert cli(command + ["--output", str(tmp_path / "r.json")]) == 0, capsys.readouterr().err[-2000:]
    assert json.loads((tmp_path / "r.json").read_text())["toy"]["settings"]["dtype"] == "int8"
    capsys.readouterr()
    assert cli(command[:-1] + ["int4"]) == 2
    assert "invalid choice: 'int4'" in capsys.readouterr().err
