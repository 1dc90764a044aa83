"""The ledger of real machines: entries from verify certificates, one per machine and profile, and the table."""

import json

import pytest

from conftest import REPO
from sentibench.checks import ledger
from sentibench.core.errors import UserError, run_cli


def _env(vendor="GenuineIntel", family_model="6/167", isa=("avx2", "fma", "avx512f"), emulator=None):
    cpu = {
        "vendor": vendor,
        "family_model": family_model,
        "model": "a CPU",
        "isa": list(isa),
        "threads": 2,
        "aten_capability": "AVX2",
        "onednn_isa": "Intel AVX2",
        "mkl_cbwr": "COMPATIBLE",
        "matrix_products": "OpenBLAS 0.3.31.188.0 Haswell GEMMs (1 thread per 256-block)",
        "emulator": emulator,
    }
    return {"cpu": cpu, "torch_build": {"version": "2.13.0+cpu"}}


def _certificate(run, date="2026-12-03T20:00:00+00:00", dirty=()):
    return {
        "verdict": "reproduces the committed results byte for byte",
        "outputs": {"train: models/trained": "identical", "evaluate: metrics/eval.json": "identical"},
        "commit": "0123456789abcdef",
        "profile": "ci",
        "date": date,
        "dirty": list(dirty),
        "committed": {"source": "golden/ci.json", "env": _env(vendor="AuthenticAMD", family_model="25/1")},
        "this_run": {"env": run},
    }


def test_a_certificate_becomes_one_entry_per_machine_and_profile(tmp_path, capsys):
    book = tmp_path / "ledger"
    certificate = tmp_path / "certificate.json"
    for date in ("2026-12-03T20:00:00+00:00", "2026-12-04T09:00:00+00:00"):  # the same machine, later
        certificate.write_text(json.dumps(_certificate(_env(), date=date)))
        ledger.main(["--ledger", str(book), "--add", str(certificate)])
    [entry] = [json.loads(p.read_text()) for p in book.glob("*.json")]
    assert entry["date"] == "2026-12-04" and entry["identical"] == entry["outputs"] == 2
    assert "/" not in json.dumps(entry["machine"]).replace("6/167", "").replace("25/1", "")  # no machine paths
    out = capsys.readouterr().out
    assert "GenuineIntel 6/167 avx512" in out and "AuthenticAMD 25/1 (other vendor)" in out


def test_re_recorded_bytes_are_a_row_of_their_own(tmp_path, monkeypatch):
    """A machine that held the bytes before they were re-recorded keeps that row beside its new one."""
    book = tmp_path / "ledger"
    certificate = tmp_path / "certificate.json"
    certificate.write_text(json.dumps(_certificate(_env())))
    for model in ("aaa", "bbb", "bbb"):
        hashes = {"train: models/trained": model}
        monkeypatch.setattr(ledger, "committed_hashes", lambda *_, found=hashes: found)
        ledger.main(["--ledger", str(book), "--add", str(certificate)])
    rows = sorted(json.loads(p.read_text())["hashes"]["train: models/trained"] for p in book.glob("*.json"))
    assert rows == ["aaa", "bbb"]


@pytest.mark.parametrize(
    ("certificate", "message"),
    [
        (_certificate(_env(emulator="qemu-x86_64 -cpu EPYC")), "emulated CPU: the ledger is of real machines"),
        (_certificate(_env(), dirty=["src/x.py"]), "dirty tree (src/x.py)"),
        ({"verdict": "x"}, "not a sentibench verify certificate"),
    ],
)
def test_what_is_no_real_machines_result_is_refused_in_one_line(tmp_path, capsys, certificate, message):
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(certificate))
    assert run_cli(ledger.main, ["--ledger", str(tmp_path / "ledger"), "--add", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "ledger").exists()


def test_the_committed_ledger_names_real_machines_of_two_vendors(capsys):
    """Seeded with the evidence of the two-vendor runs; every entry is readable."""
    ledger.main(["--ledger", str(REPO / "ledger")])
    out = capsys.readouterr().out
    assert "AuthenticAMD" in out and "GenuineIntel" in out and "other vendor" in out


def test_an_empty_ledger_is_one_line(tmp_path):
    with pytest.raises(UserError, match="no ledger entries"):
        ledger.main(["--ledger", str(tmp_path)])


def _entry(**changes):
    entry = ledger.entry(_certificate(_env()), REPO)
    return {**entry, **changes}


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ({"machine": None}, "field machine must be dict, not NoneType"),
        ({"identical": "13"}, "field identical must be int, not str"),
        ({"hashes": []}, "field hashes must be dict, not list"),
        ({"held_to": {"vendor": "x"}}, "field held_to.family_model is missing"),
    ],
)
def test_every_ledger_file_is_held_to_one_schema_in_one_line(tmp_path, capsys, broken, message):
    (tmp_path / "a.json").write_text(json.dumps(_entry(**broken)))
    assert run_cli(ledger.main, ["--ledger", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"a.json: {message}" in err and err.count("\n") == 1  # was: a KeyError traceback
    entry = _entry()
    del entry["machine"]
    (tmp_path / "a.json").write_text(json.dumps(entry))
    with pytest.raises(UserError, match=r"a\.json: field machine is missing"):
        ledger.main(["--ledger", str(tmp_path)])


def test_a_row_speaks_for_today_s_bytes_only_with_today_s_hashes_and_a_known_commit():
    today = ledger.committed_hashes(REPO, "workspace", "ci")
    head = ledger.git(REPO, "rev-parse", "HEAD").stdout.strip()
    holds = _entry(commit=head, hashes=today, identical=len(today), outputs=len(today))
    assert ledger.standing(holds, REPO) == "yes"
    assert ledger.standing({**holds, "hashes": {**today, "x": "y"}}, REPO) == "no: other bytes"
    assert ledger.standing({**holds, "identical": 1}, REPO) == "no: not all reproduced"
    assert ledger.standing({**holds, "commit": "0" * 40}, REPO) == "commit not in this repository's history"
    other = {**holds, "machine": {**holds["machine"], "vendor": "HygonGenuine", "family_model": "24/0"}}
    assert ledger.today_models([holds, other, {**other, "hashes": {}}], REPO) == [
        "GenuineIntel 6/167",
        "HygonGenuine 24/0",
    ]


def test_readme_claims_no_more_real_cpu_models_for_today_s_bytes_than_the_ledger_has():
    import re

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    claims = [int(n) for n in re.findall(r"today's bytes[^.]*?\*\*(\d+) real CPU models?\*\*", readme, re.S)]
    assert claims, "README no longer says how many real CPU models hold today's bytes"
    counted = len(ledger.today_models(ledger.read(REPO / "ledger"), REPO))
    assert all(claim <= counted for claim in claims), f"README claims {claims}, the ledger has {counted}"
