"""`--report DIR`: the page of confusions, label texts and nodes per class. Its numbers agree with the predictions
CSV on Cora; texts from the data are escaped; a real browser shows every figure with no console error; bad folders
are refused before any work."""

import csv
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

from zerog_graph.cli import main as cli

HOSTILE = '<script>alert("x")</script>'


def read_rows(path) -> list:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def cora_report(tmp_path_factory, minilm_path, shared_data):
    """`zerog eval` of Cora with the registry's label texts: the predictions CSV, the results JSON and the report."""
    folder = tmp_path_factory.mktemp("cora")
    old = os.environ.get("ZEROG_DATA")
    os.environ["ZEROG_DATA"] = str(shared_data)
    try:
        args = ["eval", "--model", minilm_path, "--graph", "cora", "--output", str(folder / "results.json")]
        code = cli(args + ["--predictions", str(folder / "predictions"), "--report", str(folder / "report")])
    finally:
        os.environ.pop("ZEROG_DATA") if old is None else os.environ.__setitem__("ZEROG_DATA", old)
    assert code == 0
    return folder


@pytest.mark.slow
def test_cora_report_agrees_with_the_predictions_csv(cora_report):
    """The confusion matrix, per-class precision / recall / F1, class sizes and confused pairs, computed again from
    the predictions CSV alone, match report.json exactly; macro-F1 and accuracy match the CLI's."""
    rows = read_rows(cora_report / "predictions" / "cora.csv")
    report = json.loads((cora_report / "report" / "report.json").read_text(encoding="utf-8"))
    results = json.loads((cora_report / "results.json").read_text(encoding="utf-8"))["cora"]
    names = report["classes"]
    confusion = [[0] * len(names) for _ in names]
    for row in rows:
        confusion[names.index(row["label"])][names.index(row["predicted"])] += 1
    labelled = report["labelled"]
    assert labelled["confusion"] == confusion
    assert labelled["num_scored"] == len(rows) == results["num_scored"]
    f1s = []
    for c, row in enumerate(labelled["per_class"]):
        tp, true, predicted = confusion[c][c], sum(confusion[c]), sum(r[c] for r in confusion)
        assert (row["class"], row["true"], row["predicted"]) == (names[c], true, predicted)
        assert row["precision"] == pytest.approx(tp / predicted, abs=1e-12)
        assert row["recall"] == pytest.approx(tp / true, abs=1e-12)
        assert row["f1"] == pytest.approx(2 * tp / (true + predicted), abs=1e-12)
        f1s.append(row["f1"])
        share = [v / true for v in confusion[c]]
        assert labelled["confusion_row_normalised"][c] == pytest.approx(share, abs=1e-12)
    assert sum(f1s) / len(f1s) == pytest.approx(results["macro_f1"], abs=1e-12)
    assert report["accuracy"] == results["accuracy"]
    pairs = sorted(((confusion[a][b], names[a], names[b]) for a in range(7) for b in range(7) if a != b), reverse=True)
    assert [(p["count"], p["true"], p["predicted"]) for p in labelled["confused_pairs"]] == pairs[:5]
    by_id = {row["node"]: row for row in rows}
    for pair in labelled["confused_pairs"]:  # the examples are nodes of that pair
        assert pair["examples"] and all(
            (by_id[x["node"]]["label"], by_id[x["node"]]["predicted"]) == (pair["true"], pair["predicted"])
            for x in pair["examples"]
        )
    # the R curve is the same pipeline: its point at the R used is the CLI's accuracy
    assert labelled["accuracy_by_rounds"][str(report["num_rounds"])] == results["accuracy"]
    assert report["auto"]["changed"] == results["settings"]["auto_rounds"]["changed"]
    assert report["predicted_sizes"] == [sum(r[c] for r in confusion) for c in range(len(names))]
    # the margins are the CSV's cosines: (top - runner-up) / top
    for item in report["class_examples"]:
        for x in item["sure"] + item["borderline"]:
            cosines = sorted((float(by_id[x["node"]][f"cosine_{n}"]) for n in names), reverse=True)
            assert by_id[x["node"]]["predicted"] == item["class"]
            assert x["margin"] == pytest.approx((cosines[0] - cosines[1]) / abs(cosines[0]), rel=1e-3, abs=1e-4)
    similarity = report["label_similarity"]
    assert all(similarity[i][i] == pytest.approx(1, abs=1e-5) for i in range(len(names)))
    closest = max((similarity[a][b], a, b) for a in range(7) for b in range(a + 1, 7))
    assert report["closest_labels"][0]["classes"] == [names[closest[1]], names[closest[2]]]
    page = (cora_report / "report" / "index.html").read_text(encoding="utf-8")
    for named in (report["model"], "R</th><td>" + str(report["num_rounds"]), *report["label_texts"]):
        assert str(named) in page  # what a comparison of two reports needs


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI: chromium is not installed (apt-get install -y chromium)", pytrace=False)
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return path


# Injected into the test's copy of the page: errors, CSP violations and console.error calls, then each image's
# natural size, written into the DOM once the page has loaded, for --dump-dom to return.
PROBE = """<script>var seen=[];
window.addEventListener('error',function(e){seen.push('error: '+(e.message||(e.target&&e.target.src)))},true);
document.addEventListener('securitypolicyviolation',function(e){seen.push('csp: '+e.blockedURI)});
console.error=function(){seen.push('console: '+Array.from(arguments).join(' '))};
window.addEventListener('load',function(){var p=document.createElement('pre');p.id='probe';
p.textContent=JSON.stringify({errors:seen,images:Array.from(document.images).map(function(i){
return [i.getAttribute('src'),i.complete,i.naturalWidth]})});document.body.appendChild(p)});</script>"""


def browse(folder, browser: str) -> dict:
    """Opens a copy of `folder/index.html` in headless chromium; returns the probe's errors and images, and the
    console lines chromium logged."""
    work = tempfile.mkdtemp()
    try:
        copy = shutil.copytree(folder, os.path.join(work, "report"))
        page = os.path.join(copy, "index.html")
        with open(page, encoding="utf-8") as f:
            text = f.read()
        assert "script-src 'none'" in text
        text = text.replace("script-src 'none'", "script-src 'unsafe-inline'").replace("<head>", "<head>" + PROBE, 1)
        with open(page, "w", encoding="utf-8") as f:
            f.write(text)
        command = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={os.path.join(work, 'profile')}", "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=10000", "--dump-dom", "file://" + page,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"chromium returned no page (exit {done.returncode}): {done.stderr[-2000:]}"
    probe = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    probe["console"] = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    return probe


@pytest.mark.slow
def test_report_in_a_real_browser(cora_report, tmp_path):
    """Chromium loads the Cora report with no error, no console message and every figure shown; the same probe
    sees a figure that is missing (so the check can fail)."""
    browser = chromium()
    probe = browse(cora_report / "report", browser)
    assert probe["errors"] == [] and probe["console"] == []
    sources = [src for src, _, _ in probe["images"]]
    assert set(sources) == {
        f"{name}.png" for name in ("confusion", "per_class", "sizes", "margins", "label_similarity", "rounds")
    }
    assert all(complete and width > 100 for _, complete, width in probe["images"]), probe["images"]
    broken = shutil.copytree(cora_report / "report", tmp_path / "broken")
    (broken / "margins.png").unlink()
    probe = browse(broken, browser)
    assert ["margins.png", True, 0] in probe["images"] and any("margins.png" in e for e in probe["errors"])


class Tags(html.parser.HTMLParser):
    """The tags and attributes of a page, as a browser's parser would see them."""

    def __init__(self):
        super().__init__()
        self.tags, self.attributes = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]


def papers(folder, labelled: bool, texts: list):
    folder.mkdir()
    header = "id,text,label" if labelled else "id,text"
    labels = ["ml", "db", "ml", "db"]
    rows = [
        ",".join([f"p{i}", '"' + text.replace('"', '""') + '"'] + ([labels[i]] if labelled else []))
        for i, text in enumerate(texts)
    ]
    (folder / "nodes.csv").write_text("\n".join([header] + rows) + "\n", encoding="utf-8")
    (folder / "edges.csv").write_text("source,target\np0,p2\np1,p3\n", encoding="utf-8")


def test_texts_from_the_data_are_escaped_and_predict_needs_no_labels(tmp_path, minilm, monkeypatch):
    """A node text, a class name and a description holding HTML reach the page as text (no tag, no handler); a
    report without labels has no confusion figure, and --overwrite removes the earlier labelled report's."""
    from zerog_graph.evaluate import evaluate_graph
    from zerog_graph.registry import load_graph
    from zerog_graph.report import write_report

    monkeypatch.setenv("ZEROG_CACHE", str(tmp_path / "cache"))
    texts = [f"Deep neural networks {HOSTILE}", "Query optimisation in relational databases",
             "Convolutional networks for image recognition", "Transaction processing and B-tree indexing"]  # fmt: skip
    papers(tmp_path / "labelled", True, texts)
    description = '<img src="https://example.com/x.png" onerror="alert(1)"> papers'
    graph = load_graph(str(tmp_path / "labelled"), description=description)
    report = tmp_path / "report"
    write_report(report, evaluate_graph(minilm, graph), graph)  # the Python function
    assert (report / "confusion.png").exists()
    papers(tmp_path / "papers", False, texts)
    names = f"machine learning {HOSTILE},databases"
    args = [
        "predict",
        "--model",
        minilm.config.lm_name_or_path,
        "--graph",
        str(tmp_path / "papers"),
        "--labels",
        names,
    ]
    args += ["--description", description, "--output", str(tmp_path / "predictions"), "--report", str(report)]
    assert cli(args) == 2  # not empty
    assert cli(args + ["--overwrite"]) == 0
    page = (report / "index.html").read_text(encoding="utf-8")
    tags = Tags()
    tags.feed(page)
    assert "script" not in tags.tags and not any(a.startswith("on") for a in tags.attributes)
    assert page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") >= 3  # node text and class name
    assert "&lt;img src=&quot;https://example.com/x.png&quot;" in page and 'src="https' not in page
    numbers = json.loads((report / "report.json").read_text(encoding="utf-8"))
    assert numbers["labelled"] is None and numbers["accuracy"] is None
    assert sorted(p.name for p in report.iterdir()) == sorted(
        ["index.html", "report.json", "sizes.png", "margins.png", "label_similarity.png", "rounds.png"]
    )
    examples = {x["node"] for item in numbers["class_examples"] for x in item["sure"]}
    assert examples == {"p0", "p1", "p2", "p3"}  # every node is predicted as some class, at most 4 per class


@pytest.mark.parametrize(
    "case", ["file", "dangling symlink", "below a file", "unwritable", "not empty", "the predictions folder"]
)
def test_bad_report_folders_are_refused_before_any_work(tmp_path, case, capsys):
    """Exit 2 with one line naming the path, before the model loads (the model named does not exist), and nothing
    is created or changed."""
    papers(tmp_path / "papers", False, ["a text", "another text", "a third", "a fourth"])
    target = {
        "file": tmp_path / "taken",
        "dangling symlink": tmp_path / "link",
        "below a file": tmp_path / "taken" / "report",
        "unwritable": "/proc/zerog-report",
        "not empty": tmp_path / "full",
        "the predictions folder": tmp_path / "out",
    }[case]
    (tmp_path / "taken").write_text("mine\n")
    os.symlink(tmp_path / "nowhere", tmp_path / "link")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine\n")
    before = sorted(os.listdir(tmp_path))
    code = cli(["predict", "--model", str(tmp_path / "no-model"), "--graph", str(tmp_path / "papers"), "--labels",
                "a,b", "--output", str(tmp_path / "out"), "--report", str(target)])  # fmt: skip
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.count("\n") == 0 and str(target) in error and "Traceback" not in error
    assert sorted(os.listdir(tmp_path)) == before and (tmp_path / "taken").read_text() == "mine\n"
    assert not os.path.lexists(tmp_path / "nowhere")


def test_missing_matplotlib_is_one_line(tmp_path, capsys, monkeypatch):
    papers(tmp_path / "papers", False, ["a text", "another text", "a third", "a fourth"])
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if not installed
    code = cli(["predict", "--model", str(tmp_path / "no-model"), "--graph", str(tmp_path / "papers"), "--labels",
                "a,b", "--output", str(tmp_path / "out"), "--report", str(tmp_path / "report")])  # fmt: skip
    error = capsys.readouterr().err.strip()
    assert code == 2 and error == (
        "zerog: error: the report needs matplotlib: pip install 'zerog-hf[report]' (or pip install matplotlib)"
    )
    assert not (tmp_path / "report").exists()
