"""predict, the packaged model folder, and its card: what a user gets after `dvc repro`."""

import csv
import io
import json
import shutil

import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

from sentibench.core.errors import run_cli
from sentibench.use import predict


def _predictions(tiny_run):
    with (tiny_run / "predictions.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_test_split_predictions_equal_the_evaluate_stage(tiny_run):
    rows = _predictions(tiny_run)
    names, probabilities, _ = predict.predict(tiny_run / "final", [r["text"] for r in rows])
    got = predict.records(names, probabilities, [r["text"] for r in rows])
    assert [g["label"] for g in got] == [r["predicted"] for r in rows]
    for g, r in zip(got, rows, strict=True):
        for name in names:
            assert g[f"p_{name}"] == pytest.approx(float(r[f"p_{name}"]), abs=2e-6)


def test_the_folder_stands_alone_for_auto_classes_and_the_pipeline(tiny_run):
    folder = str(tiny_run / "final")
    texts = [r["text"] for r in _predictions(tiny_run)[:8] if len(r["text"]) < 100]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.detach().numpy()
    names, probabilities, _ = predict.predict(tiny_run / "final", texts)
    assert list(logits.argmax(axis=1)) == list(probabilities.argmax(axis=1))
    classify = pipeline("text-classification", model=folder, tokenizer=folder)
    labels = [out["label"] for out in classify(texts)]
    assert set(labels) <= {"negative", "positive"} and names == ["negative", "positive"]
    assert labels == [names[i] for i in probabilities.argmax(axis=1)]


def test_model_card_and_preprocessing_record(tiny_run):
    card = (tiny_run / "final" / "README.md").read_text(encoding="utf-8")
    evaluation = json.loads((tiny_run / "eval.json").read_text())
    assert f"{evaluation['accuracy']:.4f}" in card and f"{evaluation['reference']['accuracy']:.4f}" in card
    assert "packaged at commit" in card and "max_tokens: 128" in card
    info = json.loads((tiny_run / "final" / "sentibench.json").read_text())
    assert info == {"max_tokens": 128, "too_long": "truncate_tail", "label_names": ["negative", "positive"]}


@pytest.mark.parametrize(
    ("name", "content", "extra"),
    [
        ("texts.txt", "很好\n太差了\n", []),
        ("texts.csv", 'id,review\n1,很好\n2,"太差了"\n', ["--column", "review"]),
        ("texts.tsv", "review\n很好\n太差了\n", ["--column", "review"]),
        ("texts.jsonl", '{"text": "很好"}\n{"text": "太差了"}\n', []),
    ],
)
def test_files_of_each_kind(tiny_run, tmp_path, capsys, name, content, extra):
    (tmp_path / name).write_text(content, encoding="utf-8")
    args = ["--model", str(tiny_run / "final"), "--file", str(tmp_path / name), "--format", "jsonl", *extra]
    assert run_cli(predict.main, args) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == ["很好", "太差了"]
    assert all(abs(r["p_negative"] + r["p_positive"] - 1) < 1e-5 for r in rows)


def test_standard_input_and_csv_output(tiny_run, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("很好\n太差了\n"))
    assert run_cli(predict.main, ["--model", str(tiny_run / "final"), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "label,p_negative,p_positive,text" and len(lines) == 3


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ["很好", " "], "argument 2: empty text"),
        ("texts.csv", ["--file", "{tmp}/texts.csv"], "no column 'text' (columns are: id, review)"),
        ("texts.jsonl", ["--file", "{tmp}/texts.jsonl"], "line 2: not valid JSON"),
        (None, ["--model", "{tmp}", "很好"], "not a model folder"),
        (None, ["--file", "{tmp}/missing.txt"], "file not found"),
        ("truncated", ["--model", "{tmp}/model", "很好"], "model.safetensors: unreadable weights (truncated"),
        ("info", ["--model", "{tmp}/model", "很好"], "sentibench.json: not valid JSON"),
        ("info-type", ["--model", "{tmp}/model", "很好"], "sentibench.json: max_tokens must be an integer"),
        ("config", ["--model", "{tmp}/model", "很好"], "not a loadable model folder"),
    ],
)
def test_bad_input_is_one_line(tiny_run, tmp_path, capsys, setup, args, message):
    if setup in ("truncated", "info", "info-type", "config"):
        shutil.copytree(tiny_run / "final", tmp_path / "model")
        damaged = {
            "truncated": ("model.safetensors", (tiny_run / "final" / "model.safetensors").read_bytes()[:5000]),
            "info": ("sentibench.json", b'{"max_tokens": 12'),
            "info-type": ("sentibench.json", b'{"max_tokens": "128", "too_long": "drop"}'),
            "config": ("config.json", b'{"architectures'),
        }
        name, data = damaged[setup]
        (tmp_path / "model" / name).write_bytes(data)
    (tmp_path / "texts.csv").write_text("id,review\n1,很好\n", encoding="utf-8")
    (tmp_path / "texts.jsonl").write_text('{"text": "很好"}\n{oops\n', encoding="utf-8")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--model" not in args:
        args = ["--model", str(tiny_run / "final"), *args]
    assert run_cli(predict.main, args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_standard_input_in_another_encoding_is_one_line(tiny_run, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO("很好\n太差了\n".encode("gbk"))))
    assert run_cli(predict.main, ["--model", str(tiny_run / "final")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: standard input: not UTF-8 text (line 1, byte 0)"


def test_length_sorted_batches_cover_every_row_once_shortest_first():
    batches = predict.length_sorted([5, 1, 9, 1, 3], 2)
    assert batches == [[1, 3], [4, 0], [2]]


def test_length_sorted_predictions_come_back_in_input_order(tiny_run):
    """Sorting by length changes only the padding: each text gets what it gets alone (batch 1, no padding)."""
    texts = [r["text"] for r in _predictions(tiny_run)][:40]
    texts = texts[::2] + texts[1::2]  # any order: the output follows it
    _, batched, _ = predict.predict(tiny_run / "final", texts, batch_size=16)
    _, alone, _ = predict.predict(tiny_run / "final", texts, batch_size=1)
    assert batched.argmax(axis=1).tolist() == alone.argmax(axis=1).tolist()
    assert abs(batched - alone).max() < 1e-6
    assert len(set(batched.argmax(axis=1).tolist())) == 2  # a model that learned: both classes occur


def test_blank_lines_of_a_text_file_are_skipped_and_counted(tiny_run, tmp_path, capsys):
    """Every editor leaves blank lines: an ordinary file is not an error. They are skipped, and one note says
    which; an empty text given as an argument or a CSV row is still an error naming it."""
    (tmp_path / "texts.txt").write_text("\n很好\n   \n太差了\n\n", encoding="utf-8")
    args = ["--model", str(tiny_run / "final"), "--file", str(tmp_path / "texts.txt"), "--format", "jsonl"]
    assert run_cli(predict.main, args) == 0
    out, err = capsys.readouterr()
    assert [json.loads(line)["text"] for line in out.splitlines()] == ["很好", "太差了"]
    assert err.strip().splitlines()[-1] == "predict: skipped 3 blank lines (line 1, 3, 5)"
    (tmp_path / "texts.csv").write_text('text\n很好\n""\n', encoding="utf-8")
    args = ["--model", str(tiny_run / "final"), "--file", str(tmp_path / "texts.csv")]
    assert run_cli(predict.main, args) == 2
    assert "row 2: empty text" in capsys.readouterr().err


class _RunsCode:
    """A pickle that would run code when loaded: it creates a file."""

    def __init__(self, witness):
        self.witness = str(witness)

    def __reduce__(self):
        return (open, (self.witness, "w"))


def test_a_model_folder_whose_weights_are_a_pickle_is_refused_and_runs_nothing(tiny_run, tmp_path, capsys):
    """Weights load from safetensors only: a pytorch_model.bin made to run code is never unpickled."""
    import pickle

    folder = tmp_path / "model"
    shutil.copytree(tiny_run / "final", folder)
    (folder / "model.safetensors").unlink()
    witness = tmp_path / "code-ran"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_RunsCode(witness)))
    assert run_cli(predict.main, ["--model", str(folder), "很好"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(folder) in err
    assert not witness.exists()


def test_predict_and_the_pipeline_are_paired_chunk_by_chunk_with_the_same_labels(tiny_run, tmp_path):
    """benchmark/predict_vs_pipeline.py's workers: each side classifies the same chunk per turn (cycling), and at
    the end both report the digest of the labels they gave, equal when they agreed on every text."""
    from sentibench.bench.lockstep import Side, Worker

    texts = [r["text"] for r in _predictions(tiny_run)[:20]]
    (tmp_path / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    common = ["--params", str(tiny_run / "params.yaml"), "--model", str(tiny_run / "final")]
    common += ["--texts", str(tmp_path / "texts.json"), "--chunk", "8", "--batch-size", "4"]
    digests, rows = [], []
    for kind in ("predict", "pipeline"):
        worker = Worker(Side(kind, ["--classify", kind, *common]))
        try:
            assert worker.expect() == {"ready": "classification"}
            rows.append([worker.ask("infer")["rows"] for _ in range(4)])
            digests.append(worker.ask("end")["labels_sha256"])
        finally:
            worker.close()
    assert rows == [[8, 8, 4, 8], [8, 8, 4, 8]]  # 20 texts in chunks of 8, then round again
    assert digests[0] == digests[1]
