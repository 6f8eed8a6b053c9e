"""bench/gpu_check.py: its refusal without CUDA, its verdict, and its dry run of every check on the CPU."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"
CHECKS = ("check_bf16_encode", "check_nf4_encode", "check_qlora_step", "check_sharded_minilm", "check_propagation")


def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_says_so_and_exits_1(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check().main([]) == 1
    error = capsys.readouterr().err
    assert "CUDA is not available" in error and "--device cpu" in error


def test_one_failing_check_fails_the_run_and_is_named(monkeypatch, capsys):
    module = gpu_check()
    for name in CHECKS:
        monkeypatch.setattr(module, name, lambda *args: ("figure", None, torch.zeros(1)))
    monkeypatch.setattr(module, "check_qlora_step", lambda *args: ("figure", "the LoRA B matrices did not move"))
    assert module.main(["--device", "cpu"]) == 1
    table = capsys.readouterr().out
    statuses = {line.split("  ")[0]: line.split()[-2] for line in table.splitlines() if line.endswith("figure")}
    assert statuses["QLoRA step (train_hf.main)"] == "FAIL" and "the LoRA B matrices did not move" in table
    assert sorted(statuses.values()) == ["FAIL", "ok", "ok", "ok", "ok"]
    monkeypatch.setattr(module, "check_propagation", lambda *args: 1 / 0)  # an exception is a failed row too
    monkeypatch.setattr(module, "check_qlora_step", lambda *args: ("figure", None))
    assert module.main(["--device", "cpu"]) == 1
    assert "ZeroDivisionError" in capsys.readouterr().out


@pytest.mark.slow
def test_dry_run_passes_every_check_on_the_cpu(smollm2_path, minilm_path):
    """The same code paths as on CUDA, with tiny sizes; two processes for the sharded encoding."""
    command = [sys.executable, str(SCRIPT), "--device", "cpu", "--num-texts", "4", "--processes", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith(("SmolLM2", "QLoRA", "MiniLM", "propag"))]
    assert len(rows) == 5 and all("  ok  " in row for row in rows), rows
    assert "2 process(es)" in result.stdout and "LOCAL_RANK=0 -> cpu" in result.stdout
