"""Profiles are params overlays: applied with comments kept, validated, unknown names refused."""

import shutil

import pytest
from ruamel.yaml import YAML

from conftest import REPO
from sentibench.core.errors import UserError
from sentibench.core.params import parse_params
from sentibench.core.profile import apply_profile, main


def _copy(tmp_path):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    return tmp_path / "params.yaml", tmp_path / "profiles"


@pytest.mark.parametrize("name", ["seed-offline", "seed"])
def test_shipped_profiles_give_the_seed_recipe(tmp_path, name):
    params_path, profiles = _copy(tmp_path)
    text = apply_profile(name, params_path, profiles)
    params = parse_params(YAML(typ="safe").load(text))
    assert (params.train.learning_rate, params.train.epochs, params.train.batch_size) == (1e-4, 1.0, 16)
    assert (params.train.eval_steps, params.train.save_steps, params.data.train_rows) == (30, 30, 2000)
    assert params.preprocess.too_long == "drop" and params.preprocess.max_tokens == 512
    assert "# The embedded default" in text  # comments survive
    if name == "seed":
        assert (params.model.source, params.model.name, params.data.source) == ("hub", "hfl/rbt3", "hub")
        assert params.data.revision == "b0c4c119c3fb33b8e735969202ef9ad13d717e5a"
    else:
        assert params.model.config["hidden_size"] == 768 and params.model.config["num_hidden_layers"] == 3


def test_published_recipe_profile_trains_on_every_row_at_2e_5(tmp_path):
    params_path, profiles = _copy(tmp_path)
    params = parse_params(YAML(typ="safe").load(apply_profile("seed-published", params_path, profiles)))
    assert params.data.train_rows is None and params.train.learning_rate == 2e-5
    assert (params.model.name, params.data.name) == ("hfl/rbt3", "lansinuote/ChnSentiCorp")


def test_main_rewrites_params_file(tmp_path, monkeypatch):
    params_path, _ = _copy(tmp_path)
    monkeypatch.chdir(tmp_path)
    main(["seed-offline"])
    assert parse_params(YAML(typ="safe").load(params_path.read_text())).model.config["hidden_size"] == 768


def test_unknown_profile_and_unknown_key(tmp_path):
    params_path, profiles = _copy(tmp_path)
    with pytest.raises(UserError, match="no such profile"):
        apply_profile("nope", params_path, profiles)
    (profiles / "typo.yaml").write_text("train: {lerning_rate: 1}\n")
    with pytest.raises(UserError, match=r"unknown params key 'train\.lerning_rate'"):
        apply_profile("typo", params_path, profiles)
