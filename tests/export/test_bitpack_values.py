"""Packed files edited AND re-checksummed (SHA-256 over every byte before the digest, as
docs/packed_format.md defines it) are still refused: header against file size before any model
is built, and value sanity (finite, variances ≥ 0, bn_epsilon > 0)."""
import hashlib
import json
import struct

import keras
import numpy as np
import pytest

from dcase_lowcomplexity.config import ModelConfig, demo_config
from dcase_lowcomplexity.errors import ConfigError, ModelFileError
from dcase_lowcomplexity.export import bitpack
from dcase_lowcomplexity.export.bitpack import expected_counts, load_packed, save_packed

NARROW = ModelConfig(num_filters=5, head_width=7)


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = bitpack.build_binary_resnet(NARROW)
    return model, save_packed(model, tmp_path_factory.mktemp("values") / "narrow.1bit")


def _split(data: bytes):
    header_length = struct.unpack_from("<8sHI", data)[2]
    start = 14 + header_length
    return json.loads(data[14:start]), data[start:-32]


def _write(path, header: dict, rest: bytes):
    """Preamble + header + sections, then the SHA-256 of all of it, as save_packed does."""
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    body = struct.pack("<8sHI", b"DCLC1BIT", 1, len(header_bytes)) + header_bytes + rest
    path.write_bytes(body + hashlib.sha256(body).digest())
    return path


@pytest.fixture
def never_build(monkeypatch):
    def build(config):
        raise AssertionError(f"a model was built from {config}")
    monkeypatch.setattr(bitpack, "build_binary_resnet", build)


def test_counts_follow_from_the_config_without_building():
    assert expected_counts(ModelConfig()) == (3_987_000, 6_340)  # SPEC §3, docs
    for config in (NARROW, demo_config().model,
                   ModelConfig(num_filters=3, num_stacks=2, blocks_per_stack=3, kernel_size=5,
                               head_width=4, num_classes=10, input_channels=1, input_bins=32,
                               freq_split=16)):
        table = bitpack._table(bitpack._arrays(bitpack.build_binary_resnet(config)))
        signs = sum(e.length for e in table if e.kind == bitpack.SIGN_KIND)
        assert expected_counts(config) == (signs, sum(e.length for e in table) - signs)


def test_a_header_claiming_a_wide_network_is_refused_before_building(packed, tmp_path,
                                                                     never_build):
    header, rest = _split(packed[1].read_bytes())
    header["model_config"]["num_filters"] = 96  # [R1]'s stacks at width 96: 52 M weights
    bad = _write(tmp_path / "wide.1bit", header, rest)
    with pytest.raises(ModelFileError, match=rf"{bad}: the header's counts .* do not match "
                                             r"the layer table of its model_config"):
        load_packed(bad)
    header["bit_count"], header["float_count"] = expected_counts(
        bitpack.model_config_from_dict(header["model_config"]))
    bad = _write(tmp_path / "wide_counts.1bit", header, rest)
    with pytest.raises(ModelFileError, match=rf"{bad}: section sizes do not match"):
        load_packed(bad)


def _float_offset(data: bytes, header: dict, name: str, kind: str, index: int = 0) -> int:
    entry = next(e for e in header["table"] if e["name"] == name and e["kind"] == kind)
    start = len(data) - 32 - 4 * header["float_count"]
    return start + 4 * (entry["offset"] + index)


@pytest.mark.parametrize("kind, value, problem", [
    ("moving_variance", -1.0, "moving_variance holds negative values"),
    ("moving_variance", np.nan, "moving_variance holds NaN or infinite values"),
    ("gamma", np.inf, "gamma holds NaN or infinite values"),
    ("moving_mean", np.nan, "moving_mean holds NaN or infinite values"),
])
def test_an_edited_value_with_a_recomputed_checksum_is_refused(packed, tmp_path, never_build,
                                                               kind, value, problem):
    data = packed[1].read_bytes()
    header, _ = _split(data)
    at = _float_offset(data, header, "pathA_input_bn", kind, index=1)
    body = bytearray(data[:-32])
    body[at:at + 4] = struct.pack("<f", value)
    bad = tmp_path / "edited.1bit"
    bad.write_bytes(bytes(body) + hashlib.sha256(bytes(body)).digest())
    with pytest.raises(ModelFileError, match=rf"{bad}: invalid batch-norm values: "
                                             rf"pathA_input_bn {problem}"):
        load_packed(bad)


@pytest.mark.parametrize("field, value, problem", [
    ("bn_epsilon", 0.0, "bn_epsilon is 0.0, not a finite number > 0"),
    ("bn_epsilon", -1e-5, "bn_epsilon is -1e-05"),
    ("bn_epsilon", float("nan"), "bn_epsilon is nan"),
    ("num_filters", 0, "num_filters is 0, not a positive integer"),
    ("kernel_size", 2.5, "kernel_size is 2.5"),
])
def test_a_header_with_an_invalid_config_is_refused(packed, tmp_path, never_build, field,
                                                    value, problem):
    header, rest = _split(packed[1].read_bytes())
    header["model_config"][field] = value
    bad = _write(tmp_path / "config.1bit", header, rest)
    with pytest.raises(ModelFileError, match=rf"{bad}: the header's ModelConfig is invalid: "
                                             rf"{problem}"):
        load_packed(bad)


def test_save_packed_refuses_non_finite_batch_norm(packed, tmp_path):
    model, _ = packed
    bn = model.get_layer("head_bn3")
    saved = bn.moving_variance.numpy().copy()
    bn.moving_variance.assign(np.full_like(saved, np.nan))
    try:
        with pytest.raises(ConfigError, match=r"head_bn3 moving_variance holds NaN"):
            save_packed(model, tmp_path / "nan.1bit")
    finally:
        bn.moving_variance.assign(saved)
    assert not list(tmp_path.iterdir())
