import pytest

from model.config import ModelConfig, tiny_config
from model.errors import ModelLoadError


def test_config_json_round_trip_keeps_every_field():
    cfg = ModelConfig(channels=16, rnn="gru", norm="batch", attention="none", resample=False)
    again = ModelConfig.from_json(cfg.to_json())
    assert again == cfg
    assert again.sources == ("drums", "bass", "other", "vocals")


@pytest.mark.parametrize("field,value", [("rnn", "transformer"), ("norm", "layer"), ("attention", "sk")])
def test_unknown_variant_is_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        ModelConfig(**{field: value})


def test_unknown_field_in_json_is_a_model_load_error():
    with pytest.raises(ModelLoadError, match="unknown model config fields: colour"):
        ModelConfig.from_dict({"colour": "red"})


def test_tiny_config_is_small():
    cfg = tiny_config()
    assert cfg.channels <= 8 and cfg.depth <= 3
