"""package: metrics files from another version or damaged on disk are one line naming the file and key."""

import json
import shutil

import pytest

from sentibench.core.errors import run_cli
from sentibench.stages import package


@pytest.mark.parametrize(
    ("file", "change", "message"),
    [
        ("eval.json", lambda m: m["reference"].pop("f1_macro"), "eval.json: no key 'reference.f1_macro'"),
        ("train.json", lambda m: m.pop("num_parameters"), "train.json: no key 'num_parameters'"),
        ("data.json", lambda m: m["rows"].pop("test"), "data.json: no key 'rows.test.total'"),
        ("pretrain.json", lambda m: m.pop("tokens"), "pretrain.json: no key 'tokens'"),
        ("eval.json", "[1, 2]", "eval.json: not a JSON object"),
    ],
)
def test_a_metrics_file_without_a_key_it_needs_is_one_line(tiny_run, tmp_path, capsys, file, change, message):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    for name in ("eval.json", "train.json", "data.json", "pretrain.json"):
        shutil.copy(tiny_run / name, metrics / name)
    if isinstance(change, str):
        (metrics / file).write_text(change)
    else:
        data = json.loads((metrics / file).read_text())
        change(data)
        (metrics / file).write_text(json.dumps(data))
    out, summary = tmp_path / "final", tmp_path / "summary.json"
    args = ["--params", str(tiny_run / "params.yaml"), "--trained", str(tiny_run / "model"), "--out", str(out)]
    assert run_cli(package.main, [*args, "--metrics-dir", str(metrics), "--summary", str(summary)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not out.exists() and not summary.exists()  # nothing half-written
