"""Model and tokenizer loading: a local save_pretrained folder, an uncached Hub id, bad configs."""

import re
from unittest import mock

import pytest
import torch

from conftest import TINY_PARAMS, TOKENIZER_DIR
from sentibench.core.errors import UserError
from sentibench.core.modeling import architecture_config, load_model, load_tokenizer
from sentibench.core.params import ModelParams

LABELS = ["negative", "positive"]


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A tiny BERT with its tokenizer, saved the way a Hub download is laid out on disk."""
    from transformers import AutoModelForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = load_tokenizer(ModelParams(tokenizer=str(TOKENIZER_DIR)))
    params = ModelParams(config=TINY_PARAMS["model"]["config"])
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(architecture_config(params, len(tokenizer), LABELS))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, model


def test_local_folder_loads_its_weights_and_tokenizer(saved_model):
    folder, original = saved_model
    params = ModelParams(source="local", name=str(folder), tokenizer=None)
    tokenizer = load_tokenizer(params)
    model = load_model(params, len(tokenizer), LABELS)
    assert tokenizer("明月")["input_ids"] == [101, 3209, 3299, 102]
    for (name, value), expected in zip(model.state_dict().items(), original.state_dict().values(), strict=True):
        assert torch.equal(value, expected), name
    assert model.config.id2label == {0: "negative", 1: "positive"}


def test_uncached_hub_model_gives_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        UserError, match=r"model hfl/rbt3@abc: not a local folder, and from the Hub: offline \(HF_HUB_OFFLINE=1\)"
    ):
        load_model(ModelParams(source="hub", name="hfl/rbt3", revision="abc"), 21128, LABELS)
    with pytest.raises(UserError, match=r"tokenizer hfl/rbt3: not a local folder"):
        load_tokenizer(ModelParams(source="hub", name="hfl/rbt3", tokenizer="hfl/rbt3"))


def test_missing_local_folders_are_named(tmp_path):
    with pytest.raises(UserError, match=re.escape(f"{tmp_path}/nope: model folder not found")):
        load_model(ModelParams(source="local", name=str(tmp_path / "nope")), 10, LABELS)
    with pytest.raises(UserError, match="tokenizer folder not found"):
        load_tokenizer(ModelParams(tokenizer=str(tmp_path / "nope")))


def test_unknown_architecture_keys_are_rejected():
    with pytest.raises(UserError, match=r"model\.config\.num_hiden_layers: not a field of the bert config"):
        architecture_config(ModelParams(config={"num_hiden_layers": 2}), 10, LABELS)
    with pytest.raises(UserError, match=r"model\.architecture: unknown model type 'nosuch'"):
        architecture_config(ModelParams(architecture="nosuch"), 10, LABELS)


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ("GatedRepoError", "a gated repository"),
        ("RevisionNotFoundError", "no such revision"),
        ("RepositoryNotFoundError", "no such repository on the Hub"),
        ("RemoteEntryNotFoundError", "no such file, or no such revision"),
        ("LocalEntryNotFoundError", "not in the Hugging Face cache"),
    ],
)
def test_hub_failures_say_which_one_it_was(error, words):
    from huggingface_hub import errors

    from sentibench.core.hub import hub_failure

    kind = getattr(errors, error)
    if issubclass(kind, errors.HfHubHTTPError):
        cause = kind("HTTP error", response=mock.Mock(status_code=404, headers={}, url="https://huggingface.co/x"))
    else:
        cause = kind("not found")
    try:
        try:
            raise cause
        except Exception as inner:
            raise OSError("wrapped by transformers") from inner
    except OSError as outer:
        assert words in hub_failure(outer)


def test_an_impossible_architecture_is_one_line():
    params = ModelParams(config={"hidden_size": 100, "num_attention_heads": 3})
    with pytest.raises(UserError, match=r"hidden_size \(100\) must be a multiple of model.config.num_attention_heads"):
        architecture_config(params, 100, LABELS)


def test_a_config_value_of_the_wrong_type_is_one_line_naming_the_field():
    params = ModelParams(config={"hidden_size": "128", "num_attention_heads": 4})
    with pytest.raises(
        UserError, match=r"model.config: not a valid bert config \(.*'hidden_size'.*expected int"
    ) as err:
        architecture_config(params, 100, LABELS)
    assert "\n" not in str(err.value)
