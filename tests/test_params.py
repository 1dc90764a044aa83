"""params.yaml is validated: unknown keys and wrong types are one-line errors naming the key."""

import pytest

from sentibench.core.errors import UserError
from sentibench.core.params import Params, load_params, parse_params


def test_empty_params_give_the_defaults():
    assert parse_params({}) == Params()


def test_yaml_1_2_reads_exponent_floats(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  learning_rate: 1e-4\n  epochs: 3\n")
    params = load_params(path)
    assert params.train.learning_rate == pytest.approx(1e-4)
    assert params.train.epochs == 3.0 and isinstance(params.train.epochs, float)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"train": {"lerning_rate": 0.1}}, "unknown params key 'train.lerning_rate'"),
        ({"trian": {}}, "unknown params key 'trian'"),
        ({"train": {"batch_size": "16"}}, "train.batch_size must be an integer"),
        ({"train": {"batch_size": True}}, "train.batch_size must be an integer"),
        ({"train": {"learning_rate": "fast"}}, "train.learning_rate must be a number"),
        ({"preprocess": {"too_long": "cut"}}, "preprocess.too_long must be one of drop, truncate_head, truncate_tail"),
        ({"data": {"source": "files"}}, "data.path is required when data.source is files"),
        ({"data": {"train_rows": -1}}, "data.train_rows must not be negative"),
        ({"train": {"batch_size": 0}}, "train.batch_size must be positive"),
        ({"model": {"config": [1, 2]}}, "model.config must be a mapping"),
        ({"train": 3}, "train must be a mapping"),
        ({"train": {"bf16": True}}, "train.bf16: true needs runtime.portable: false"),
        ({"train": {"lr_scheduler": "bogus"}}, "train.lr_scheduler must be one of linear, cosine"),
        ({"train": {"learning_rate": float("nan")}}, "train.learning_rate must be a finite number; got nan"),
        ({"train": {"learning_rate": float("inf")}}, "train.learning_rate must be a finite number; got inf"),
        ({"pretrain": {"mask_rate": float("-inf")}}, "pretrain.mask_rate must be a finite number; got -inf"),
    ],
)
def test_bad_values_name_their_key(raw, message):
    with pytest.raises(UserError, match=message.replace(".", r"\.")):
        parse_params(raw)


def test_missing_params_file_is_named(tmp_path):
    with pytest.raises(UserError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_params_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_bytes("train:\n  seed: 1 # 种子\n".encode("gb18030"))
    with pytest.raises(UserError, match="not UTF-8"):
        load_params(path)


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  seed: [1,\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_params(path)


def test_bf16_is_a_lever_of_native_kernels_only():
    assert parse_params({"train": {"bf16": True}, "runtime": {"portable": False}}).train.bf16


def test_every_scheduler_offered_is_one_transformers_knows():
    import typing

    from transformers.trainer_utils import SchedulerType

    from sentibench.core.params import TrainParams

    offered = typing.get_args(typing.get_type_hints(TrainParams)["lr_scheduler"])
    assert set(offered) <= {s.value for s in SchedulerType}
