"""The docs hold: every fenced `python` and `bash` block of README.md and docs/*.md runs, in order, in a copy of
the repository (or, where marked as not run, compiles and names only existing options); relative links resolve;
every option that the prose names exists in some command's `--help`.

A block that is not run has the line `<!-- docs: not run: KIND (why) -->` just before its fence, KIND one of
`NOT_RUN_KINDS`. Blocks of one file share a working folder, so a later block may use what an earlier one wrote.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from tests.helpers import SHARED_DATA

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
NOT_RUN_KINDS = {
    "gpu": "needs a CUDA GPU",
    "hub": "needs the Hugging Face Hub",
    "docker": "needs a Docker daemon",
    "long": "a benchmark or study of many minutes; its options are checked",
    "self": "the install step or test command that CI runs itself",
}
FENCE = re.compile(r"^(?:<!-- docs: not run: (\w+)[^>]*-->\n)?```(\w*)\n(.*?)^```$", re.M | re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# Options of other tools that the docs name in prose (pip, docker, pytest): not ZeroG's to check.
OTHER_TOOLS_OPTIONS = {"--no-deps", "--index-url", "--build-arg", "--network", "--gpus", "--doctest-modules", "--rm"}


def blocks(path: Path) -> list:
    """(language, code, not-run kind or None) of each fenced block of a Markdown file."""
    return [(lang, code, kind) for kind, lang, code in FENCE.findall(path.read_text(encoding="utf-8"))]


def doc_id(path: Path) -> str:
    return str(path.relative_to(REPO))


# ---------------------------------------------------------------------------------------------
# Options named in the docs exist
# ---------------------------------------------------------------------------------------------


def parser_options(parser) -> frozenset:
    """The option strings of an argparse parser; for HfArgumentParser, `_` and `-` spellings alike."""
    options = {option for action in parser._actions for option in action.option_strings}
    return frozenset(options | {o.replace("_", "-") for o in options} | {o.replace("-", "_") for o in options})


@lru_cache(maxsize=None)
def help_options(*command: str) -> frozenset:
    """The options that `command --help` would list, read from its parser in this process (no model loads)."""
    if command[0] == "zerog":
        from zerog_graph.cli import build_parser

        commands = next(a for a in build_parser()._actions if a.dest == "command")
        return parser_options(commands.choices[command[1]])
    if command == ("accelerate", "launch"):
        from accelerate.commands.launch import launch_command_parser

        return parser_options(launch_command_parser())
    script = Path(command[-1])
    if script.name == "train_hf.py":
        from transformers import HfArgumentParser

        sys.path.insert(0, str(REPO))
        import train_hf

        return parser_options(
            HfArgumentParser((train_hf.ModelArguments, train_hf.DataArguments, train_hf.ZeroGTrainingArguments))
        )
    # a bench script: its add_argument calls, read as text (running it with --help may start the benchmark)
    options = re.findall(r"add_argument\(\s*\"(-[\w-]+)\"(?:,\s*\"(-[\w-]+)\")?", script.read_text(encoding="utf-8"))
    return frozenset({"-h", "--help"} | {o for pair in options for o in pair if o})


def command_options(words: list) -> list:
    """(the command whose `--help` decides, the options given to it) for each command of a shell line."""
    found = []
    script = next((w for w in ("train_hf.py", "train_hf", "zerog-train") if w in words), None)  # -m train_hf
    if script is not None:
        at = words.index(script)
        if words[0] == "accelerate":
            found.append((("accelerate", "launch"), words[2 : at - (script == "train_hf")]))
        found.append(((sys.executable, str(REPO / "train_hf.py")), words[at + 1 :]))
    elif words[:1] == ["zerog"] and len(words) > 1:
        found.append((("zerog", words[1]), words[2:]))
    elif words[:3] == ["python", "-m", "zerog_graph"] and len(words) > 3:
        found.append((("zerog", words[3]), words[4:]))
    elif words[:1] == ["python"] and len(words) > 1 and words[1].startswith("bench/"):
        found.append(((sys.executable, str(REPO / words[1])), words[2:]))
    elif words[:2] == ["accelerate", "launch"] and "-m" in words:
        at = words.index("-m")
        found.append((("accelerate", "launch"), words[2:at]))
        if words[at + 1 : at + 2] == ["zerog_graph"]:
            found.append((("zerog", words[at + 2]), words[at + 3 :]))
    return found


def shell_commands(code: str) -> list:
    """The words of each command of a bash block: continuations joined, comments dropped, split at ; && ||."""
    joined = re.sub(r"\\\n\s*", " ", re.sub(r"<<'EOF'\n.*?\nEOF\n", "\n", code, flags=re.S))
    commands = []
    for line in joined.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        current = []
        for word in words + [";"]:
            if word in (";", "&&", "||", "|"):
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(word)
    return commands


def unknown_options(code: str) -> list:
    missing = []
    for words in shell_commands(code):
        for command, args in command_options(words):
            known = help_options(*command)
            for arg in args:
                option = arg.split("=", 1)[0]
                if re.fullmatch(r"-\d+(\.\d+)?", option):  # a negative number is a value, as argparse reads it
                    continue
                if option.startswith("-") and option not in ("-", "--") and option not in known:
                    missing.append(f"{' '.join(words[:3])}...: {option}")
    return missing


@pytest.mark.slow
@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_every_option_in_a_bash_block_exists(path):
    missing = [m for lang, code, _ in blocks(path) if lang == "bash" for m in unknown_options(code)]
    assert not missing, f"{doc_id(path)}: options that no --help lists: {missing}"


@pytest.mark.slow
def test_every_option_named_in_prose_exists():
    """A backticked `--option` in prose is an option of zerog, train_hf.py, accelerate launch or a bench script."""
    known = help_options("zerog", "eval") | help_options("zerog", "predict")
    known |= help_options(sys.executable, str(REPO / "train_hf.py")) | help_options("accelerate", "launch")
    for script in sorted((REPO / "bench").rglob("*.py")):
        known |= help_options(sys.executable, str(script))
    missing = []
    for path in DOCS:
        prose = FENCE.sub("", path.read_text(encoding="utf-8"))
        for span in re.findall(r"`([^`\n]+)`", prose):
            for option in re.findall(r"(?<![\w-])(--[A-Za-z][\w-]*)", span):
                if option not in known and option not in OTHER_TOOLS_OPTIONS:
                    missing.append(f"{doc_id(path)}: {option}")
    assert not missing, f"options named in the docs that no --help lists: {sorted(set(missing))}"


# ---------------------------------------------------------------------------------------------
# Links and markers
# ---------------------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_relative_links_resolve(path):
    broken = []
    for target in LINK.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{doc_id(path)}: broken links {broken}"


def test_blocks_have_a_language_and_known_markers():
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        kinds = re.findall(r"<!-- docs: not run: (\w+)", text)
        assert set(kinds) <= set(NOT_RUN_KINDS), f"{doc_id(path)}: unknown kinds {set(kinds) - set(NOT_RUN_KINDS)}"
        assert len(kinds) == sum(kind != "" for _, _, kind in blocks(path)), f"{doc_id(path)}: a marker not on a fence"


def test_the_readme_is_short_and_every_doc_is_linked_from_it():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    for page in (REPO / "docs").glob("*.md"):
        assert f"(docs/{page.name})" in readme, f"docs/{page.name} is not linked from README.md"


# ---------------------------------------------------------------------------------------------
# Every block runs (or compiles)
# ---------------------------------------------------------------------------------------------


def repo_copy(root: Path) -> Path:
    """The repository's tracked files under `root/zerog-hf`, with `root/shared` the real graphs' folder, so that
    paths such as `../shared/data` read as they do from a checkout beside shared/."""
    files = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=REPO, check=True).stdout.split()
    copy = root / "zerog-hf"
    for name in files:
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
    if SHARED_DATA.parent.exists():
        (root / "shared").symlink_to(SHARED_DATA.parent)
    return copy


@pytest.mark.slow
@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_every_block_runs(path, tmp_path, tmp_path_factory):
    """Blocks run in order, `bash -eo pipefail` or `python`, offline, with a cache shared by all the docs."""
    found = [(lang, code, kind) for lang, code, kind in blocks(path) if lang in ("python", "bash")]
    if not found:
        pytest.skip(f"{doc_id(path)} has no python or bash block")
    workdir = repo_copy(tmp_path)
    cache = tmp_path_factory.getbasetemp() / "docs-cache"
    env = {k: v for k, v in os.environ.items() if k not in ("ZEROG_DATA", "PYTHONPATH")}
    env.update(HF_HUB_OFFLINE="1", ZEROG_CACHE=str(cache))
    for number, (lang, code, kind) in enumerate(found, start=1):
        where = f"{doc_id(path)}, {lang} block {number}"
        if kind:
            if lang == "python":
                compile(code, where, "exec")
            else:
                check = subprocess.run(["bash", "-n", "-c", code], capture_output=True, text=True)
                assert check.returncode == 0, f"{where}: {check.stderr}"
            continue
        if lang == "python":
            script = workdir / f"_docs_block_{number}.py"
            script.write_text(code, encoding="utf-8")
            command = [sys.executable, script.name]
        else:
            command = ["bash", "-eo", "pipefail", "-c", code]
        run = subprocess.run(command, capture_output=True, text=True, cwd=workdir, env=env, timeout=1200)
        assert run.returncode == 0, f"{where} failed ({run.returncode}):\n{code}\n--- stderr:\n{run.stderr[-3000:]}"
