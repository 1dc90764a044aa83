"""compare, history and aggregate over a temporary git repository with metrics in several commits."""

import json
import re
import shutil
import subprocess

import pytest

from conftest import REPO
from sentibench.core.errors import UserError, run_cli
from sentibench.runs import aggregate, compare, history, tolerances
from sentibench.runs.revisions import snapshot

DVC_YAML = """stages:
  run:
    cmd: "true"
    metrics:
      - metrics/eval.json: {cache: false}
      - metrics/train_timing.json: {cache: false}
      - metrics/env.json: {cache: false}
"""
TOLERANCES = """eval.accuracy: {direction: higher, abs: 0.005}
eval.f1_macro: {direction: higher, abs: 0.005}
eval.loss: {direction: lower, abs: 0.01}
train_timing.train_samples_per_second: {direction: higher, rel: 0.5, timing: true}
"""
ENV = {"cpu": {"model": "EPYC", "threads": 2, "aten_capability": "AVX512"}, "packages": {"torch": "2.13.0"}}


class Repo:
    def __init__(self, path):
        self.path = path
        self.git("init", "-q")

    def git(self, *args):
        identity = ["-c", "user.name=t", "-c", "user.email=t@t.invalid"]
        subprocess.run(["git", *identity, *args], cwd=self.path, check=True, capture_output=True)

    def write(self, name, data):
        file = self.path / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(data if isinstance(data, str) else json.dumps(data))

    def commit_run(self, message, accuracy, f1, loss, speed, lr=1e-3, env=ENV):
        self.write("dvc.yaml", DVC_YAML)
        self.write("tolerances.yaml", TOLERANCES)
        self.write("params.yaml", f"train:\n  learning_rate: {lr}\n  seed: 42\n")
        self.write("metrics/eval.json", {"accuracy": accuracy, "f1_macro": f1, "loss": loss, "rows": 1200})
        self.write("metrics/train_timing.json", {"train_samples_per_second": speed})
        self.write("metrics/env.json", env)
        self.git("add", "-A")
        self.git("commit", "-qm", message)


@pytest.fixture
def repo(tmp_path):
    repo = Repo(tmp_path)
    repo.write("README.md", "no metrics yet\n")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "start")
    repo.commit_run("first run", accuracy=0.80, f1=0.79, loss=0.45, speed=100.0)
    repo.commit_run("second run", accuracy=0.81, f1=0.792, loss=0.50, speed=90.0, lr=5e-4)
    return repo


def _rows(repo, a, b):
    judged = tolerances.load_tolerances(repo.path / "tolerances.yaml")
    return {r["metric"]: r for r in compare.compare(snapshot(repo.path, a), snapshot(repo.path, b), judged)}


def test_verdicts_better_worse_same(repo):
    rows = _rows(repo, "HEAD~1", "HEAD")
    assert rows["eval.accuracy"]["verdict"] == "better"  # +0.01 beyond 0.005
    assert rows["eval.f1_macro"]["verdict"] == "same"  # +0.002 within 0.005
    assert rows["eval.loss"]["verdict"] == "worse"  # lower is better
    assert rows["eval.rows"]["verdict"] == "same"  # no tolerance: exact
    assert rows["eval.accuracy"]["change"] == pytest.approx(0.01)


def test_timings_of_two_runs_are_unpaired_within_the_noise_floor(repo, capsys):
    """A timing from another run is no verdict: -10% (the no-op rerun the issue saw) is "unpaired", and only a
    change beyond the noise floor (tolerances.yaml's ±50%; the same for a timing it does not name) is judged."""
    timing = _rows(repo, "HEAD~1", "HEAD")["train_timing.train_samples_per_second"]
    assert timing["verdict"] == "unpaired" and timing["relative"] == pytest.approx(-0.1)
    assert timing["tolerance"] == "unpaired, noise ±50%"
    repo.write("metrics/train_timing.json", {"train_samples_per_second": 40.0, "train_runtime_s": 10.0})
    rows = _rows(repo, "HEAD", "workspace")
    assert rows["train_timing.train_samples_per_second"]["verdict"] == "worse"  # -56%: beyond what noise has shown
    assert rows["train_timing.train_runtime_s"]["verdict"] == "not comparable"  # only in B
    with pytest.raises(SystemExit):  # the loss is worse; the unpaired timing alone would not fail it
        compare.main(["HEAD~1", "HEAD", "--repo", str(repo.path), "--fail-on", "worse"])
    out = capsys.readouterr().out
    assert "1 unpaired" in out and "`sentibench compare A B --measure` pairs them" in out
    assert compare.verdict(100.0, 101.0, None, None, timing=True) == ("unpaired", "unpaired, noise ±50%")
    assert compare.verdict(100.0, 100.0, None, None, timing=True)[0] == "same"  # the same bytes: same
    with pytest.raises(UserError, match="--fail-on slower: needs --measure"):
        compare.main(["HEAD~1", "HEAD", "--repo", str(repo.path), "--fail-on", "slower"])


def test_timings_from_other_environments_are_not_comparable(repo):
    repo.write("metrics/env.json", {**ENV, "cpu": {**ENV["cpu"], "threads": 1}})
    rows = _rows(repo, "HEAD", "workspace")
    timing = rows["train_timing.train_samples_per_second"]
    assert timing["verdict"] == "not comparable"
    assert "cpu.threads 2 vs 1" in timing["tolerance"]
    assert rows["eval.accuracy"]["verdict"] == "same"  # quality stays comparable


def test_every_timing_is_judged_against_the_environment_it_was_measured_in(repo):
    """Benchmark numbers against the benchmark's own environment, with or without a tolerance; the train
    stage's environment does not speak for them."""
    repo.write("metrics/throughput.json", {"training": {"samples_per_second": {"p90": 300.0}}})
    repo.write("results/benchmark_env.json", ENV)
    repo.write("metrics/pretrain_timing.json", {"pretrain_runtime_s": 10.0})
    repo.write("dvc.yaml", DVC_YAML + "      - metrics/throughput.json\n      - metrics/pretrain_timing.json\n")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "benchmarked")
    repo.write("results/benchmark_env.json", {**ENV, "cpu": {**ENV["cpu"], "model": "Xeon"}})
    repo.write("metrics/throughput.json", {"training": {"samples_per_second": {"p90": 200.0}}})
    repo.write("metrics/pretrain_timing.json", {"pretrain_runtime_s": 20.0})
    rows = _rows(repo, "HEAD", "workspace")
    throughput = rows["throughput.training.samples_per_second.p90"]
    assert throughput["verdict"] == "not comparable" and "cpu.model EPYC vs Xeon" in throughput["tolerance"]
    assert rows["pretrain_timing.pretrain_runtime_s"]["verdict"] == "changed"  # same train env: judged, no direction
    repo.write("metrics/env.json", {**ENV, "cpu": {**ENV["cpu"], "threads": 1}})
    assert _rows(repo, "HEAD", "workspace")["pretrain_timing.pretrain_runtime_s"]["verdict"] == "not comparable"


def test_report_lists_changed_params_and_fail_on_worse(repo, capsys):
    with pytest.raises(SystemExit) as exit_info:
        compare.main(["HEAD~1", "HEAD", "--repo", str(repo.path), "--fail-on", "worse"])
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "Changed params:" in out and "train.learning_rate" in out
    assert run_cli(compare.main, ["HEAD", "HEAD", "--repo", str(repo.path), "--fail-on", "worse"]) == 0


def test_markdown_output_is_a_valid_table(repo, capsys):
    compare.main(["HEAD~1", "HEAD", "--repo", str(repo.path), "--format", "md"])
    lines = capsys.readouterr().out.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("| metric |")))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    assert set(table[1].strip("|").split("|")) == {"---"}
    widths = {len(line.strip("|").split("|")) for line in table}
    assert widths == {7} and all(line.endswith("|") for line in table)
    assert any("| eval.accuracy |" in line and "| better |" in line for line in table)


def test_experiment_names_resolve(repo):
    head = subprocess.run(["git", "rev-parse", "HEAD~1"], cwd=repo.path, capture_output=True, text=True).stdout.strip()
    repo.git("update-ref", "refs/exps/ab/cdef0123/seed-7", head)
    assert snapshot(repo.path, "seed-7").metrics["eval.accuracy"] == 0.80


def test_history_has_a_point_per_commit_and_writes_the_plot(repo, capsys):
    repo.commit_run("third run", accuracy=0.82, f1=0.80, loss=0.44, speed=95.0)
    points = history.collect(repo.path, 10)
    assert len(points) == 3  # the first commit has no metrics and is not listed
    data = history.series(points, ["eval.accuracy", "eval.loss"])
    assert data == {"eval.accuracy": [0.80, 0.81, 0.82], "eval.loss": [0.45, 0.50, 0.44]}
    target = repo.path / "out" / "history.png"
    history.main(["--repo", str(repo.path), "--plot", str(target), "-n", "3"])
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "third run" in out and "eval.accuracy" in out
    assert "eval.loss" not in out  # the headline metrics by default, not every metric with a tolerance
    html = repo.path / "history.html"
    history.main(["--repo", str(repo.path), "--plot", str(html), "--metrics", "eval.accuracy"])
    assert "<svg" in html.read_text()


def test_aggregate_mean_and_std_and_compare_against_it(repo, tmp_path, capsys):
    repo.commit_run("third run", accuracy=0.82, f1=0.80, loss=0.44, speed=95.0)
    runs = [snapshot(repo.path, rev) for rev in ("HEAD~2", "HEAD~1", "HEAD")]
    stats = aggregate.aggregate(runs)["metrics"]["eval.accuracy"]
    assert stats["mean"] == pytest.approx(0.81)
    assert stats["std"] == pytest.approx(0.01)  # sample std of 0.80, 0.81, 0.82
    assert (stats["min"], stats["max"], stats["n"]) == (0.80, 0.82, 3)
    out = tmp_path / "agg.json"
    aggregate.main(["HEAD~2", "HEAD~1", "HEAD", "--repo", str(repo.path), "--out", str(out)])
    repo.write("metrics/eval.json", {"accuracy": 0.835, "f1_macro": 0.80, "loss": 0.46, "rows": 1200})
    side, spread = compare.load_side(repo.path, str(out))
    assert side.metrics["eval.accuracy"] == pytest.approx(0.81)
    assert spread["eval.accuracy"].abs == pytest.approx(0.02)  # 2 standard deviations
    capsys.readouterr()
    compare.main([str(out), "workspace", "--repo", str(repo.path)])
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("eval.accuracy "))
    assert line.split()[-1] == "better"  # +0.025 beyond 2 x 0.01


@pytest.mark.parametrize(
    ("args", "setup", "message"),
    [
        (["nosuchbranch", "HEAD"], None, "unknown revision 'nosuchbranch'"),
        (["HEAD~2", "HEAD"], None, "revision 'HEAD~2' has no metrics"),
        (["HEAD", "workspace"], "bad_json", "metrics/eval.json at workspace: not valid JSON"),
        (["HEAD", "workspace"], "gbk", "metrics/eval.json at workspace: not UTF-8 text (line 1, byte 14)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(repo, capsys, args, setup, message):
    if setup == "bad_json":
        repo.write("metrics/eval.json", "{not json")
    elif setup == "gbk":
        (repo.path / "metrics" / "eval.json").write_bytes('{"accuracy": "很好"}'.encode("gbk"))
    elif setup == "unknown_tolerance":
        repo.write("tolerances.yaml", TOLERANCES + "eval.nonsense: {direction: higher, abs: 1}\n")
    assert run_cli(compare.main, [*args, "--repo", str(repo.path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_tolerance_for_a_metric_neither_run_has_is_a_warning(repo, capsys):
    repo.write("tolerances.yaml", TOLERANCES + "eval.nonsense: {direction: higher, abs: 1}\n")
    assert run_cli(compare.main, ["HEAD~1", "HEAD", "--repo", str(repo.path)]) == 0
    err = capsys.readouterr().err
    assert "no metric 'eval.nonsense' in HEAD~1 or HEAD" in err and err.count("\n") == 1


def test_metrics_of_every_dvc_yaml_are_compared(repo):
    """The benchmark pipeline lives in benchmark/dvc.yaml (wdir ..): its throughput is compared too."""
    repo.write(
        "benchmark/dvc.yaml",
        'stages:\n  b:\n    wdir: ..\n    cmd: "true"\n    metrics:\n      - metrics/throughput.json: {cache: false}\n',
    )
    repo.write("metrics/throughput.json", {"training": {"samples_per_second": {"median": 200.0}}})
    repo.git("add", "-A")
    repo.git("commit", "-qm", "benchmark")
    snap = snapshot(repo.path, "HEAD")
    assert snap.metrics["throughput.training.samples_per_second.median"] == 200.0
    assert "env.cpu.model" not in snap.metrics  # the fingerprint is read apart, never as a metric


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- eval.accuracy\n", "must map metric names to tolerances; got a list"),
        ("eval.accuracy: {direction: higher, abs: lots}\n", "eval.accuracy.abs: must be a number >= 0; got 'lots'"),
        ("eval.accuracy: {direction: higher, abs: -0.5}\n", "eval.accuracy.abs: must be a number >= 0; got -0.5"),
        ("eval.accuracy: {direction: up, abs: 0.1}\n", "eval.accuracy.direction: must be higher or lower"),
        ("eval.accuracy: 0.1\n", "eval.accuracy: must be a mapping"),
    ],
)
def test_bad_tolerance_files_are_one_line(tmp_path, content, message):
    path = tmp_path / "tolerances.yaml"
    path.write_text(content)
    with pytest.raises(UserError, match=re.escape(message)):
        tolerances.load_tolerances(path)
    path.write_bytes("eval.accuracy: {direction: higher, abs: 0.1}  # 准确率\n".encode("gbk"))
    with pytest.raises(UserError, match="not UTF-8"):
        tolerances.load_tolerances(path)


def test_a_sweep_knows_how_far_a_metric_moves_not_which_way_is_better():
    judged = compare.verdict(1.0, 0.5, tolerances.Tolerance(direction=None, abs=0.1), None)
    assert judged == ("changed", "±0.1")


def test_report_names_the_worse_metric_and_draws_valid_pngs(repo, tmp_path):
    from sentibench.runs import report

    for name, accuracy in (("first", "0.8"), ("second", "0.7")):
        repo.write("dvclive/plots/metrics/eval/accuracy.tsv", f"step\taccuracy\n0\t0.5\n10\t{accuracy}\n")
        repo.write("results/predictions.csv", "row,actual,predicted\n0,pos,pos\n1,neg,pos\n2,neg,neg\n")
        repo.write("results/inference.csv", "batch_size,rows_per_second\n1,800\n8,1000\n")
        repo.commit_run(name, accuracy=float(accuracy), f1=0.79, loss=0.45, speed=100.0)
    out = tmp_path / "report"
    out.mkdir()
    (out / "notes.md").write_text("the user's own")  # --out docs must never delete docs/
    with pytest.raises(SystemExit) as stop:
        report.main(["HEAD~1", "HEAD", "--repo", str(repo.path), "--out", str(out), "--fail-on", "worse"])
    assert stop.value.code == 1  # after writing the report
    assert (out / "notes.md").read_text() == "the user's own"
    assert sorted(p.name for p in out.iterdir()) == [
        "confusion.png",
        "curves.png",
        "notes.md",
        "report.md",
        "throughput.png",
    ]
    text = (out / "report.md").read_text(encoding="utf-8")
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert table[1].startswith("| test accuracy (`eval.accuracy`) |") and table[1].endswith("| **worse** |")
    for image in ("curves.png", "confusion.png", "throughput.png"):
        assert f"]({image})" in text
        assert (out / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _benchmark_run(repo, name, accuracy, speed, env=ENV):
    """A commit with what the real pipeline writes: quality, timings and a benchmark of many percentiles."""
    stats = lambda median: {k: median * f for k, f in (("median", 1), ("p10", 0.9), ("p90", 1.1), ("mean", 1))}  # noqa: E731
    repo.write(
        "benchmark/dvc.yaml",
        'stages:\n  b:\n    wdir: ..\n    cmd: "true"\n    metrics:\n      - metrics/throughput.json: {cache: false}\n',
    )
    repo.write("results/benchmark_env.json", env)
    repo.write(
        "metrics/throughput.json",
        {
            "training": {
                "samples_per_second": stats(speed),
                "tokens_per_second": stats(speed * 40),
                "step_seconds": stats(16 / speed),
                "model_flops_utilisation_real_tokens": 0.37 * speed / 300,
            },
            "inference": {"batch_1_latency": {"p50_ms": 3.0, "p90_ms": 3.5, "p99_ms": 4.0}},
            "memory": {"peak_rss_mib": 2100.0},
        },
    )
    repo.write("metrics/train.json", {"steps_to_target": 600, "eval_accuracy": accuracy + 0.01, "global_step": 1872})
    repo.write("metrics/pretrain.json", {"tokens": 1234567, "steps": 1000, "mean_logged_loss": 5.0 + accuracy})
    dvc_yaml = DVC_YAML + "      - metrics/train.json: {cache: false}\n      - metrics/pretrain.json: {cache: false}\n"
    repo.commit_run(name, accuracy=accuracy, f1=accuracy - 0.01, loss=0.45, speed=speed)
    repo.write("dvc.yaml", dvc_yaml)
    repo.write("tolerances.yaml", (REPO / "tolerances.yaml").read_text(encoding="utf-8"))  # the project's own
    repo.git("add", "-A")
    repo.git("commit", "-qm", f"{name}: every file")


def test_the_report_answers_first_and_keeps_the_rest_collapsed(repo, tmp_path):
    from sentibench.runs import report

    _benchmark_run(repo, "before", accuracy=0.80, speed=300.0)
    _benchmark_run(repo, "after", accuracy=0.82, speed=345.0)
    out = tmp_path / "report"
    report.main(["HEAD~2", "HEAD", "--repo", str(repo.path), "--out", str(out)])
    text = (out / "report.md").read_text(encoding="utf-8")
    opened = text.split("<details>", 1)[0]
    rows = [line for line in opened.splitlines() if line.startswith("| ") and not line.startswith("| metric")]
    rows = [line for line in rows if not line.startswith("|---")]
    assert rows[0].startswith("| test accuracy (`eval.accuracy`) | 0.8 | 0.82 | +0.02 | ±0.005 | **better** |")
    assert any(line.startswith("| training samples/s") and line.endswith("| unpaired |") for line in rows)  # two runs
    assert len(rows) <= 25
    assert not any("p10" in line or "p90" in line for line in rows)  # percentiles are collapsed
    assert re.search(r"<summary>throughput: \d+ unpaired \(timings from different runs are unpaired", text)
    assert "<summary>params: 1 changed</summary>" not in opened


CHROMIUM = shutil.which("chromium") or shutil.which("google-chrome")
# GitHub's comment styles, as far as layout goes: 16 px type at 1.5, tables with 6/13 px cell padding.
GITHUB_CSS = """body{font:16px/1.5 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:880px;margin:0 auto;
padding:180px 16px 0}table{border-collapse:collapse;display:block;overflow:auto}td,th{padding:6px 13px;
border:1px solid #d0d7de}code{font-size:85%}img{max-width:100%}"""


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_the_reports_first_screen_holds_the_headline_table(repo, tmp_path):
    """Rendered as GitHub renders a PR comment (cmark-gfm, GitHub's own Markdown library), in a 1280x800
    browser window with 180 px of GitHub's page above the comment, the headline table is on the first screen."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    from sentibench.runs import report

    _benchmark_run(repo, "before", accuracy=0.80, speed=300.0)
    _benchmark_run(repo, "after", accuracy=0.82, speed=345.0)
    out = tmp_path / "report"
    report.main(["HEAD~2", "HEAD", "--repo", str(repo.path), "--out", str(out)])
    body = cmarkgfm.github_flavored_markdown_to_html(
        (out / "report.md").read_text(encoding="utf-8"), Options.CMARK_OPT_UNSAFE
    )
    measure = (
        "<script>window.onload=()=>{const t=document.querySelector('table').getBoundingClientRect();"
        "document.body.dataset.headlineBottom=Math.ceil(t.bottom);"
        "document.body.dataset.headlineRows=document.querySelector('table').rows.length;}</script>"
    )
    page = out / "page.html"
    page.write_text(f"<!doctype html><meta charset=utf-8><style>{GITHUB_CSS}</style>{body}{measure}", encoding="utf-8")
    browser = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1280,800"]
    browser += ["--proxy-server=127.0.0.1:9", f"--user-data-dir={tmp_path / 'u'}", "--virtual-time-budget=5000"]
    dom = subprocess.run([*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True, check=False)
    assert dom.returncode == 0, dom.stderr[-2000:]
    bottom = int(re.search(r'data-headline-bottom="(\d+)"', dom.stdout).group(1))
    rows = int(re.search(r'data-headline-rows="(\d+)"', dom.stdout).group(1))
    assert rows == 1 + 7 and 180 < bottom <= 800  # the header and the 7 headline metrics both runs have
    assert "<details>" in dom.stdout and dom.stdout.index("test accuracy") < dom.stdout.index("<details>")


@pytest.mark.parametrize(
    ("args", "setup", "message"),
    [
        (["nosuchbranch", "HEAD"], None, "unknown revision 'nosuchbranch'"),
        (["HEAD", "workspace", "--out", "{tmp}/file"], None, "{tmp}/file: --out must be a folder"),
        (["HEAD", "workspace"], "bad_json", "metrics/eval.json at workspace: not valid JSON"),
    ],
)
def test_report_bad_input_is_one_line_and_writes_nothing(repo, tmp_path, capsys, args, setup, message):
    from sentibench.runs import report

    (tmp_path / "file").write_text("not a folder")
    if setup == "bad_json":
        repo.write("metrics/eval.json", "{not json")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = [] if "--out" in args else ["--out", str(tmp_path / "report")]
    assert run_cli(report.main, [*args, *out, "--repo", str(repo.path)]) == 2
    err = capsys.readouterr().err
    assert message.replace("{tmp}", str(tmp_path)) in err and err.count("\n") == 1
    assert not (tmp_path / "report").exists()


def test_history_plot_is_one_grid_on_one_screen_with_the_reference(repo, tmp_path, monkeypatch):
    import matplotlib.image
    import matplotlib.pyplot as plt

    for i, accuracy in enumerate((0.80, 0.82, 0.81)):
        _benchmark_run(repo, f"run {i}", accuracy=accuracy, speed=300.0 + 10 * i)
        repo.write("metrics/eval.json", {"accuracy": accuracy, "f1_macro": 0.8, "reference": {"accuracy": 0.85}})
        repo.git("add", "-A")
        repo.git("commit", "-qm", f"run {i}: with the reference")
    drawn = []
    monkeypatch.setattr(plt, "close", lambda fig: drawn.append(fig))  # keep the figure to look at its panels
    target = tmp_path / "history.png"
    history.main(["--repo", str(repo.path), "--plot", str(target), "-n", "6"])
    height, width, _ = matplotlib.image.imread(target).shape
    assert width <= 1280 and height <= 800  # one screen, not a scroll through stacked panels
    panels = [axis for axis in drawn[0].axes if axis.get_visible()]
    titles = [axis.get_title() for axis in panels]
    assert titles[0] == "test accuracy" and "real-token MFU" in titles and len(panels) == 7  # the 7 present
    assert [line.get_label() for line in panels[0].get_lines()] == ["this model", "TF-IDF reference"]
    assert panels[-1].get_xticklabels()[0].get_text()  # commits labelled


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_history_html_draws_every_metric_by_commit_offline(repo, tmp_path):
    repo.commit_run("third run", accuracy=0.82, f1=0.80, loss=0.44, speed=95.0)
    (repo.path / "assets" / "plots").mkdir(parents=True)
    shutil.copy2(REPO / "assets" / "plots" / "offline.html", repo.path / "assets" / "plots" / "offline.html")
    page = tmp_path / "history.html"
    history.main(["--repo", str(repo.path), "--plot", str(tmp_path / "h.png"), "--html", str(page)])
    text = page.read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in text and text.count("vegaEmbed(") == 5  # eval x4 (rows too), samples/s
    browser = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--proxy-server=127.0.0.1:9"]
    browser += [f"--user-data-dir={tmp_path / 'u'}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
    dom = subprocess.run(browser, capture_output=True, text=True, check=False)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<canvas") == 5  # every chart drew, with nothing fetched


def test_a_report_leaves_no_image_of_an_earlier_report_it_did_not_draw(repo, tmp_path):
    """The second report has no inference table to draw: the first report's throughput.png must not pass for its."""
    from sentibench.runs import report

    repo.write("dvclive/plots/metrics/eval/accuracy.tsv", "step\taccuracy\n0\t0.5\n10\t0.8\n")
    repo.write("results/inference.csv", "batch_size,rows_per_second\n1,800\n8,1000\n")
    repo.commit_run("with inference", accuracy=0.8, f1=0.79, loss=0.45, speed=100.0)
    out = tmp_path / "report"
    report.main(["HEAD", "HEAD", "--repo", str(repo.path), "--out", str(out)])
    assert (out / "throughput.png").is_file()
    repo.git("rm", "-q", "results/inference.csv")
    repo.commit_run("without inference", accuracy=0.8, f1=0.79, loss=0.45, speed=100.0)
    report.main(["HEAD", "HEAD", "--repo", str(repo.path), "--out", str(out)])
    assert not (out / "throughput.png").exists() and (out / "curves.png").is_file()


def test_history_without_any_headline_metric_is_one_line(repo, tmp_path, capsys):
    repo.git("rm", "-q", "metrics/eval.json", "metrics/train_timing.json")
    repo.write("metrics/other.json", {"value": 1})
    repo.write("dvc.yaml", DVC_YAML.replace("metrics/eval.json", "metrics/other.json"))
    repo.git("add", "-A")
    repo.git("commit", "-qm", "metrics, none of them headline")
    assert run_cli(history.main, ["-n", "1", "--repo", str(repo.path), "--plot", str(tmp_path / "h.png")]) == 2
    err = capsys.readouterr().err
    assert "none of the headline metrics" in err and "--metrics" in err and err.count("\n") == 1
    assert not (tmp_path / "h.png").exists()


def test_a_report_carries_the_verify_verdict_of_the_machine_that_made_it(repo, tmp_path, capsys):
    """In a pull request the runner is another real machine: its verify verdict is one line of the report."""
    from sentibench.runs import report

    certificate = tmp_path / "certificate.json"
    cpu = {"model": "AMD EPYC 7763", "vendor": "AuthenticAMD", "family_model": "25/1"}
    certificate.write_text(
        json.dumps({"verdict": "reproduces the committed results byte for byte", "this_run": {"env": {"cpu": cpu}}})
    )
    out = tmp_path / "report"
    report.main(["HEAD~1", "HEAD", "--repo", str(repo.path), "--out", str(out), "--certificate", str(certificate)])
    text = (out / "report.md").read_text(encoding="utf-8")
    assert (
        "**Committed bytes on this machine** (AMD EPYC 7763 (AuthenticAMD 25/1), `sentibench verify`): "
        "reproduces the committed results byte for byte"
    ) in text
    certificate.write_text("{}")
    args = ["HEAD~1", "HEAD", "--repo", str(repo.path), "--out", str(tmp_path / "r2"), "--certificate"]
    assert run_cli(report.main, [*args, str(certificate)]) == 2
    assert "not a sentibench verify certificate" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists()
