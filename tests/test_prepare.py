"""prepare: every source kind, cleaning, leak-free splitting and seeded sampling."""

import json

import pandas as pd
import pytest

from sentibench.core.contract import SPLITS, read_label_names
from sentibench.core.errors import UserError, run_cli
from sentibench.core.params import DataParams
from sentibench.corpus import splits as prep
from sentibench.stages import prepare as stage

POS = ["房间很干净，服务很好", "这本书写得真好", "电脑性能不错", "早餐丰富", "位置方便", "值得推荐"]
NEG = ["房间很脏", "这本书很无聊", "电脑经常死机", "服务态度差", "隔音太差", "不会再来"]


def _frame(texts, labels):
    return pd.DataFrame({"text": texts, "label": labels})


def _tsv_dir(tmp_path, header="label\ttext_a"):
    folder = tmp_path / "chnsenticorp"
    folder.mkdir()
    splits = {"train": (POS[:4] + NEG[:4]), "dev": [POS[4], NEG[4]], "test": [POS[5], NEG[5]]}
    for name, texts in splits.items():
        lines = [header] + [f"{1 if t in POS else 0}\t{t}" for t in texts]
        (folder / f"{name}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _all_rows(params):
    return DataParams(**{"train_rows": None, "validation_rows": None, "test_rows": None, **params})


def test_embedded_corpus_matches_its_known_shape():
    frames, report = prep.prepare(DataParams())
    assert report["label_names"] == ["negative", "positive"]
    assert report["removed"]["conflicting_texts"] == 47  # texts in both neg.txt and pos.txt
    assert report["removed"]["duplicates"] > 15000  # ~50% of the lines repeat
    assert {s: len(frames[s]) for s in SPLITS} == {"train": 14963, "validation": 1200, "test": 1200}  # params.yaml
    assert report["available"] == {"train": 14963, "validation": 1200, "test": 1200}


def test_same_seed_same_rows_other_seed_other_rows():
    small = {"validation_size": 300, "test_size": 300, "train_rows": 200, "validation_rows": 50, "test_rows": 50}
    first, report_a = prep.prepare(DataParams(**small))
    again, report_b = prep.prepare(DataParams(**small))
    other, report_c = prep.prepare(DataParams(**small, sample_seed=7))
    assert report_a["sha256"] == report_b["sha256"]
    pd.testing.assert_frame_equal(first["train"], again["train"])
    assert set(first["train"]["text"]) != set(other["train"]["text"])
    assert report_a["sha256"]["train"] != report_c["sha256"]["train"]


def test_changing_train_rows_keeps_the_test_sample():
    _, a = prep.prepare(DataParams(validation_size=300, test_size=300, train_rows=100, test_rows=50))
    _, b = prep.prepare(DataParams(validation_size=300, test_size=300, train_rows=150, test_rows=50))
    assert a["sha256"]["test"] == b["sha256"]["test"]
    assert a["sha256"]["train"] != b["sha256"]["train"]


def test_no_text_in_two_splits():
    frames, _ = prep.prepare(DataParams(train_rows=None))
    train, validation, test = (set(frames[s]["text"]) for s in SPLITS)
    assert not train & validation and not train & test and not validation & test


def test_cleaning_strips_and_drops_empty_duplicate_and_conflicting():
    frames = {"all": _frame(["  好 ", "好", "", "坏", "坏", "一般", "一般", None], [1, 1, 0, 0, 0, 0, 1, 1])}
    cleaned, stats = prep.clean(frames)
    assert list(cleaned["all"]["text"]) == ["好", "坏"]
    assert stats == {"empty": 2, "duplicates": 2, "conflicting_texts": 1, "conflicting_rows": 2}


def test_leaks_are_removed_from_validation_and_test():
    frames = {
        "train": _frame(["a", "b"], [0, 1]),
        "validation": _frame(["a", "c"], [0, 1]),
        "test": _frame(["b", "c", "d"], [1, 1, 0]),
    }
    out, removed = prep.remove_leaks(frames)
    assert list(out["validation"]["text"]) == ["c"]
    assert list(out["test"]["text"]) == ["d"]
    assert removed == {"validation": 1, "test": 2}


def test_tsv_directory_with_train_dev_test(tmp_path):
    params = _all_rows({"source": "files", "path": str(_tsv_dir(tmp_path)), "text_column": "text_a"})
    frames, report = prep.prepare(params)
    assert report["rows"]["train"]["total"] == 8
    assert report["rows"]["validation"] == {"total": 2, "0": 1, "1": 1}
    assert set(frames["test"]["text"]) == {POS[5], NEG[5]}


def test_save_to_disk_dataset_dict_with_class_labels(tmp_path):
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features({"text": Value("string"), "label": ClassLabel(names=["negative", "positive"])})
    rows = lambda texts: Dataset.from_dict({"text": texts, "label": [int(t in POS) for t in texts]}, features=features)  # noqa: E731
    DatasetDict(
        {"train": rows(POS[:4] + NEG[:4]), "validation": rows([POS[4], NEG[4]]), "test": rows([POS[5], NEG[5]])}
    ).save_to_disk(str(tmp_path / "ChnSentiCorp"))
    _, report = prep.prepare(_all_rows({"source": "disk", "path": str(tmp_path / "ChnSentiCorp")}))
    assert report["label_names"] == ["negative", "positive"]
    assert report["rows"]["test"] == {"total": 2, "negative": 1, "positive": 1}


def test_single_jsonl_file_is_split_with_string_labels(tmp_path):
    path = tmp_path / "reviews.jsonl"
    records = [{"review": t, "sentiment": "pos" if t in POS else "neg"} for t in POS + NEG]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8")
    params = _all_rows(
        {
            "source": "files",
            "path": str(path),
            "text_column": "review",
            "label_column": "sentiment",
            "validation_size": 2,
            "test_size": 2,
        }
    )
    _, report = prep.prepare(params)
    assert report["label_names"] == ["neg", "pos"]
    assert [report["rows"][s]["total"] for s in SPLITS] == [8, 2, 2]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_csv_and_parquet_files(tmp_path, suffix):
    frame = _frame(POS + NEG, [1] * len(POS) + [0] * len(NEG))
    path = tmp_path / f"reviews.{suffix}"
    frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path)
    _, report = prep.prepare(_all_rows({"source": "files", "path": str(path), "validation_size": 2, "test_size": 2}))
    assert report["rows"]["train"]["total"] == 8


def _cli(tmp_path, params_yaml):
    params = tmp_path / "params.yaml"
    params.write_text(params_yaml, encoding="utf-8")
    out, metrics = tmp_path / "out", tmp_path / "metrics" / "data.json"
    args = ["--params", str(params), "--out", str(out), "--metrics", str(metrics), "--raw-data", "/"]
    code = run_cli(stage.main, args)
    return code, out, metrics


@pytest.mark.parametrize(
    ("setup", "params_yaml", "message"),
    [
        (None, "data: {source: files, path: /no/such/dir}", "/no/such/dir: no such file or directory"),
        ("gbk", "data: {source: files, path: DIR/bad.tsv}", "bad.tsv: not UTF-8 text (line 2, byte 13)"),
        (
            "stray_label",
            "data: {source: files, path: DIR/stray.csv}",
            "split all, row 13: label 2 is one label too many",
        ),
        ("bad_jsonl", "data: {source: files, path: DIR/bad.jsonl}", "bad.jsonl, line 2: not valid JSON"),
        ("empty_tsv", "data: {source: files, path: DIR/empty.tsv}", "empty.tsv: empty file"),
        ("one_label", "data: {source: files, path: DIR/one.csv, validation_size: 1, test_size: 1}", "single label"),
        ("empty", "data: {source: files, path: DIR/empty.csv}", "no rows"),
        (
            "one_label",
            "data: {source: files, path: DIR/one.csv, text_column: body}",
            "no column 'body' (data.text_column)",
        ),
        ("missing_label", "data: {source: files, path: DIR/gap.csv}", "split all, row 2: label is missing"),
        ("half_label", "data: {source: files, path: DIR/half.csv}", "split all, row 3: label 0.5 is a number but not"),
        (None, "data: {sourse: files}", "unknown params key 'data.sourse'"),
        (None, "data: {train_rows: many}", "data.train_rows must be an integer"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, setup, params_yaml, message):
    if setup == "gbk":
        (tmp_path / "bad.tsv").write_bytes("label\ttext\n1\t很好\n".encode("gbk"))
    elif setup == "one_label":
        _frame(POS, [1] * len(POS)).to_csv(tmp_path / "one.csv", index=False)
    elif setup == "stray_label":
        _frame([*POS, *NEG, "还行吧"], [1] * len(POS) + [0] * len(NEG) + [2]).to_csv(
            tmp_path / "stray.csv", index=False
        )
    elif setup == "bad_jsonl":
        (tmp_path / "bad.jsonl").write_text('{"text": "好", "label": 1}\n{"text": "坏", "label"\n', encoding="utf-8")
    elif setup == "empty_tsv":
        (tmp_path / "empty.tsv").write_text("", encoding="utf-8")
    elif setup == "empty":
        (tmp_path / "empty.csv").write_text("text,label\n", encoding="utf-8")
    elif setup == "half_label":
        (tmp_path / "half.csv").write_text("text,label\n好,1\n坏,0\n还行,0.5\n", encoding="utf-8")
    elif setup == "missing_label":
        (tmp_path / "gap.csv").write_text("text,label\n好,1\n坏,\n", encoding="utf-8")
    code, out, metrics = _cli(tmp_path, params_yaml.replace("DIR", str(tmp_path)))
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert [line for line in err.splitlines() if not line.startswith("warning:")] == [
        f"error: {err.split('error: ')[1].strip()}"
    ]
    assert "Traceback" not in err
    assert not out.exists() and not metrics.exists()


def test_cli_writes_parquet_splits_and_report(tmp_path):
    code, out, metrics = _cli(tmp_path, "data: {validation_size: 100, test_size: 100, train_rows: 50}")
    assert code == 0
    report = json.loads(metrics.read_text())
    train = pd.read_parquet(out / "train.parquet")
    assert len(train) == 50 == report["rows"]["train"]["total"]
    assert prep.split_sha256(train) == report["sha256"]["train"]
    assert read_label_names(out) == ["negative", "positive"]


def test_uncached_hub_dataset_gives_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    params = DataParams(
        source="hub", name="lansinuote/ChnSentiCorp", revision="b0c4c119c3fb33b8e735969202ef9ad13d717e5a"
    )
    with pytest.raises(
        UserError, match=r"offline \(HF_HUB_OFFLINE=1\) and not in the Hugging Face cache; .* set data\.source: disk"
    ):
        prep.prepare(params)


def test_external_data_must_live_where_dvc_tracks_its_content(tmp_path, capsys):
    (tmp_path / "raw").mkdir()
    params = tmp_path / "params.yaml"
    params.write_text(f"data: {{source: files, path: {tmp_path}/elsewhere.tsv}}\n", encoding="utf-8")
    code = run_cli(stage.main, ["--params", str(params), "--raw-data", str(tmp_path / "raw")])
    assert code == 2
    err = capsys.readouterr().err
    assert "is outside" in err and "link it there" not in err  # it never suggests what it then refuses


def test_a_link_under_the_raw_folder_to_data_elsewhere_is_refused_saying_why(tmp_path, capsys):
    """DVC hashes the files it finds, not what a link points to: a link would let an edit rerun nothing."""
    (tmp_path / "raw").mkdir()
    (tmp_path / "elsewhere.tsv").write_text("text\tlabel\n好\t1\n", encoding="utf-8")
    (tmp_path / "raw" / "reviews.tsv").symlink_to(tmp_path / "elsewhere.tsv")
    params = tmp_path / "params.yaml"
    params.write_text(f"data: {{source: files, path: {tmp_path}/raw/reviews.tsv}}\n", encoding="utf-8")
    code = run_cli(
        stage.main, ["--params", str(params), "--raw-data", str(tmp_path / "raw"), "--out", str(tmp_path / "o")]
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is a link to" in err and "links are not accepted" in err
    assert not (tmp_path / "o").exists()


def test_a_source_without_dev_and_test_says_they_are_carved_out_of_train(tmp_path, capsys):
    folder = tmp_path / "split"
    folder.mkdir()
    _frame(POS + NEG, [1] * len(POS) + [0] * len(NEG)).to_csv(folder / "train.csv", index=False)
    prep.prepare(_all_rows({"source": "files", "path": str(folder), "validation_size": 2, "test_size": 2}))
    assert "no test or validation split; carving it out of train" in capsys.readouterr().out


def test_an_unknown_split_name_is_an_error_that_lists_the_names(tmp_path):
    from datasets import Dataset, DatasetDict

    rows = {"text": POS + NEG, "label": [1] * len(POS) + [0] * len(NEG)}
    DatasetDict({"train": Dataset.from_dict(rows), "val": Dataset.from_dict(rows)}).save_to_disk(str(tmp_path / "d"))
    with pytest.raises(UserError, match=r"unknown split name 'val' \(found train, val"):
        prep.prepare(_all_rows({"source": "disk", "path": str(tmp_path / "d")}))


def test_labels_outside_the_declared_names_are_named_by_row():
    frames = {"train": _frame(["好", "坏", "怪"], [1, 0, 5])}
    with pytest.raises(UserError, match=r"split train, row 3: label 5 is not one of the labels the source declares"):
        prep.check_label_set(frames, ["negative", "positive"], 2)
    prep.check_label_set({"train": _frame(["好", "坏"], [1, 0])}, ["negative", "positive"], 2)
    prep.check_label_set({"train": _frame(["好", "坏", "怪"], [1, 0, 2])}, None, None)  # num_labels: null


def test_labels_written_as_floats_are_the_integers_they_spell_in_every_split():
    frames = {
        "train": _frame(POS[:2] + NEG[:2], [1.0, 1.0, 0.0, 0.0]),  # a float column, as pandas reads 1.0
        "validation": _frame(POS[2:3] + NEG[2:3], ["1.0", "0.0"]),  # text, as a TSV read as strings holds it
        "test": _frame(POS[3:4] + NEG[3:4], [1, 0]),
    }
    prep.check_label_set(frames, None, 2)
    out, names = prep.normalise_labels(frames, None)
    assert names == ["0", "1"]  # not "0.0" and "1.0" beside "0" and "1"
    assert [out[s]["label"].tolist() for s in ("train", "validation", "test")] == [[1, 1, 0, 0], [1, 0], [1, 0]]
