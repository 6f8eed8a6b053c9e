"""What a user's terminal shows: the public API imports, and a run prints its encoding bar and its table only."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import zerog_graph
from zerog_graph.console import percent, quiet_progress_bars

REPO = Path(__file__).resolve().parents[1]


def test_every_public_name_imports():
    for name in zerog_graph.__all__:
        assert getattr(zerog_graph, name) is not None, name
    namespace = {}
    exec("from zerog_graph import *", namespace)
    assert set(zerog_graph.__all__) <= set(namespace)


def test_percent_has_one_format():
    assert [percent(0.7134), percent(None), percent(1)] == ["71.3%", "-", "100.0%"]


def test_quiet_progress_bars_restores_what_was_on():
    import datasets
    from transformers.utils import logging as hf_logging

    with quiet_progress_bars():
        assert not hf_logging.is_progress_bar_enabled() and datasets.are_progress_bars_disabled()
    assert hf_logging.is_progress_bar_enabled() and not datasets.are_progress_bars_disabled()


def run_cli(*args, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, ZEROG_CACHE=str(cache), PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    command = [sys.executable, "-m", "zerog_graph", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


@pytest.mark.slow
def test_an_eval_prints_only_the_encoding_bar_and_the_table(minilm_path, tmp_path):
    """On a cache miss (the model loads, texts are encoded and saved) stderr holds the encoding bar only:
    no bitsandbytes kernel warning, no weight-loading or dataset-saving bar, no Normalize note."""
    nodes = "id,text,label\n" + "".join(f"p{i},paper number {i} on {t},{t}\n" for i, t in enumerate(["ml", "db"] * 3))
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "nodes.csv").write_text(nodes, encoding="utf-8")
    (tmp_path / "papers" / "edges.csv").write_text("source,target\np0,p2\np1,p3\n", encoding="utf-8")
    args = ["eval", "--model", minilm_path, "--graph", str(tmp_path / "papers"), "--dtype", "fp32"]
    run = run_cli(*args, cache=tmp_path / "cache")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].split() == ["graph", "nodes", "scored", "R", "accuracy", "macro-F1", "majority"]
    assert len(run.stdout.splitlines()) == 2
    shown = [part for part in re.split(r"[\r\n]", run.stderr) if part.strip()]
    assert shown and all(part.startswith("encode:") for part in shown), shown
    assert any((tmp_path / "cache" / "embeddings").rglob("shard-*.arrow"))  # the shards were written

    verbose = run_cli(*args, "-v", cache=tmp_path / "cache")  # the notes, on request
    assert verbose.returncode == 0 and "(Normalize) after pooling is not applied" in verbose.stderr


@pytest.mark.slow
def test_help_imports_no_model_code():
    """`zerog --help` reads no model, metric or graph library: it stays a parser (issue 26: 7.5 s of CPU)."""
    code = (
        "import runpy, sys\n"
        "sys.argv = ['zerog', 'eval', '--help']\n"
        "try:\n    runpy.run_module('zerog_graph', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "heavy = ('modeling_zerog', 'sklearn', 'torch_geometric', 'peft', 'datasets', 'zerog_graph.evaluate')\n"
        "print('IMPORTED', [m for m in heavy if m in sys.modules])"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert "--dtype" in result.stdout and "IMPORTED []" in result.stdout, result.stdout[-500:] + result.stderr


@pytest.mark.slow
def test_transformers_verbosity_info_shows_the_notes(minilm_path, tmp_path):
    """The note on MiniLM's Normalize module is at info level: `TRANSFORMERS_VERBOSITY=info` shows it, the
    default does not; loading a LoRA model prints no FutureWarning (peft reads a deprecated property)."""
    code = "from zerog_graph import load_model; load_model(%r, use_lora=True)" % minilm_path
    runs = {}
    for verbosity in ("info", "warning"):
        env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY=verbosity)
        runs[verbosity] = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    note = "'2_Normalize' (Normalize) after pooling is not applied"
    assert note in runs["info"].stderr and note not in runs["warning"].stderr
    assert "Warning" not in runs["warning"].stderr and "kernels-community" not in runs["warning"].stderr, runs[
        "warning"
    ].stderr
