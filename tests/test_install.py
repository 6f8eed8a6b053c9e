"""The built wheel holds what a `pip install` user runs: the package, the model's two files, train_hf.py and its
`zerog-train` command."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from zerog_graph import MODEL_CODE

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["pyproject.toml", "README.md", "train_hf.py"] + [f"{name}.py" for name in MODEL_CODE]


@pytest.mark.slow
def test_the_wheel_holds_train_hf_and_its_command(tmp_path):
    source = tmp_path / "src"  # a copy: building in the repository would leave build/ and *.egg-info behind
    shutil.copytree(REPO / "zerog_graph", source / "zerog_graph", ignore=shutil.ignore_patterns("__pycache__"))
    for name in SOURCES:
        shutil.copy(REPO / name, source / name)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", ".", "-w"]
    subprocess.run([*build, str(tmp_path / "dist")], cwd=source, check=True, capture_output=True, timeout=600)
    (wheel,) = (tmp_path / "dist").glob("zerog_hf-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"train_hf.py", "zerog_graph/cli.py"} | {f"{name}.py" for name in MODEL_CODE} <= names
    assert {f"zerog_graph/{p.name}" for p in (REPO / "zerog_graph").glob("*.py")} <= names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    commands = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "zerog = zerog_graph.cli:main" in commands and "zerog-train = train_hf:run" in commands
