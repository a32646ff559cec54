"""Packed one-bit files (SPEC §5 export): exact sizes, exact reload, every bad-file case."""
import dataclasses
import hashlib
import json
import struct

import keras
import numpy as np
import pytest

from dcase_lowcomplexity.config import ModelConfig
from dcase_lowcomplexity.errors import ConfigError, ModelFileError
from dcase_lowcomplexity.export.bitpack import load_packed, read_packed, save_packed
from dcase_lowcomplexity.layers import BinaryConv2D
from dcase_lowcomplexity.models.binary_resnet import build_binary_resnet

# Odd widths so that layers end mid-byte and the total needs padding bits.
NARROW = ModelConfig(num_filters=5, head_width=7)
BN_ARRAYS = ("gamma", "beta", "moving_mean", "moving_variance")


@pytest.fixture(scope="module")
def trained_model():
    """A narrow model after two SGD steps, its BN arrays then set to random values."""
    keras.utils.set_random_seed(1)
    model = build_binary_resnet(NARROW)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 256, 24, 2)).astype("float32")
    y = np.eye(3, dtype="float32")[[0, 1, 2, 1]]
    before = model.get_layer("pathA_input_bn").moving_mean.numpy().copy()
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert not np.allclose(model.get_layer("pathA_input_bn").moving_mean.numpy(), before)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            for kind in BN_ARRAYS:
                var = getattr(layer, kind)
                if var is not None:
                    low = 0.5 if kind in ("gamma", "moving_variance") else -0.5
                    var.assign(rng.uniform(low, low + 1.0, var.shape).astype("float32"))
    return model


@pytest.fixture(scope="module")
def packed_file(trained_model, tmp_path_factory):
    return save_packed(trained_model, tmp_path_factory.mktemp("packed") / "narrow.1bit")


def _rewrite(path, data: bytes):
    """Writes body + a freshly computed checksum: a tampered file that passes the checksum."""
    path.write_bytes(data + hashlib.sha256(data).digest())


def _split(data: bytes):
    _, version, header_length = struct.unpack_from("<8sHI", data)
    start = 14 + header_length
    return json.loads(data[14:start]), data[start:-32]


def _join(header: dict, rest: bytes, version=1) -> bytes:
    header_bytes = json.dumps(header).encode()
    return struct.pack("<8sHI", b"DCLC1BIT", version, len(header_bytes)) + header_bytes + rest


def test_paper_model_sign_section_is_498375_bytes(tmp_path):
    model = build_binary_resnet()
    path = save_packed(model, tmp_path / "paper.1bit")
    packed = read_packed(path)
    assert packed.signs.size == 3_987_000
    assert packed.sign_bytes == 498_375
    assert packed.floats.size == 6_340
    assert packed.model_config == ModelConfig()
    header_length = struct.unpack_from("<8sHI", path.read_bytes())[2]
    assert path.stat().st_size == 14 + header_length + 498_375 + 6_340 * 4 + 32
    assert sum(1 for e in packed.table if e.kind == "sign_bits") == 36
    # One bit stream across layers: the 468-weight stem leaves the next layer mid-byte.
    entries = [e for e in packed.table if e.kind == "sign_bits"]
    assert (entries[0].name, entries[0].offset, entries[0].length) == ("pathA_stem_conv", 0, 468)
    assert entries[1].offset == 468
    signs = np.concatenate([
        (l.kernel.numpy() >= 0).reshape(-1) for l in model.layers if isinstance(l, BinaryConv2D)])
    np.testing.assert_array_equal(packed.signs, signs)


def test_bit_order_first_weight_is_the_most_significant_bit(tmp_path):
    model = build_binary_resnet(NARROW)
    stem = model.get_layer("pathA_stem_conv")
    w = -np.ones(stem.kernel.shape, "float32")
    w.reshape(-1)[[0, 2, 9]] = [0.0, 0.3, 2.0]  # sign(0) = +1 is bit 1
    stem.kernel.assign(w)
    data = save_packed(model, tmp_path / "m.1bit").read_bytes()
    start = 14 + struct.unpack_from("<8sHI", data)[2]
    assert data[start] == 0b1010_0000
    assert data[start + 1] == 0b0100_0000


def test_reload_predicts_like_the_trained_model(trained_model, packed_file):
    loaded = load_packed(packed_file)
    x = np.random.default_rng(5).normal(size=(3, 256, 40, 2)).astype("float32")
    source = keras.ops.convert_to_numpy(trained_model(x, training=False))
    restored = keras.ops.convert_to_numpy(loaded(x, training=False))
    assert np.max(np.abs(source - restored)) <= 1e-5
    # The comparison can fail: the same architecture without the file's BN arrays differs.
    fresh = build_binary_resnet(NARROW)
    for a, b in zip(fresh.layers, loaded.layers):
        if isinstance(a, BinaryConv2D):
            a.kernel.assign(b.kernel)
    assert np.max(np.abs(keras.ops.convert_to_numpy(fresh(x)) - source)) > 1e-3
    for layer in trained_model.layers:
        if isinstance(layer, BinaryConv2D):
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(loaded.get_layer(layer.name).binary_kernel()),
                keras.ops.convert_to_numpy(layer.binary_kernel()))
            assert set(np.unique(loaded.get_layer(layer.name).kernel.numpy())) <= {-1.0, 1.0}
        if isinstance(layer, keras.layers.BatchNormalization):
            for w_src, w_new in zip(layer.weights, loaded.get_layer(layer.name).weights):
                np.testing.assert_array_equal(w_src.numpy(), w_new.numpy())


def test_model_loaded_from_keras_file_can_be_packed(trained_model, tmp_path):
    trained_model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    a = save_packed(reloaded, tmp_path / "a.1bit").read_bytes()
    b = save_packed(trained_model, tmp_path / "b.1bit").read_bytes()
    assert a == b


def test_writes_atomically_and_leaves_no_temporary_file(trained_model, tmp_path):
    path = tmp_path / "m.1bit"
    path.write_bytes(b"old")
    save_packed(trained_model, path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.1bit"]
    assert path.read_bytes()[:8] == b"DCLC1BIT"
    with pytest.raises(ModelFileError, match="missing"):
        save_packed(trained_model, tmp_path / "missing" / "m.1bit")


def test_float_twin_and_unknown_models_are_refused(tmp_path):
    twin = build_binary_resnet(dataclasses.replace(NARROW, binary=False))
    with pytest.raises(ConfigError, match="binary") as refused:
        save_packed(twin, tmp_path / "f.1bit")
    assert refused.value.path == tmp_path / "f.1bit" and "f.1bit" in str(refused.value)
    plain = keras.Sequential([keras.Input((4, 4, 2)), BinaryConv2D(3)])
    with pytest.raises(ConfigError, match="config"):
        save_packed(plain, tmp_path / "p.1bit")
    with pytest.raises(ConfigError, match="layers of its ModelConfig"):
        save_packed(plain, tmp_path / "p.1bit", config=NARROW)
    assert list(tmp_path.iterdir()) == []


def test_truncated_file(packed_file, tmp_path):
    bad = tmp_path / "truncated.1bit"
    bad.write_bytes(packed_file.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match="truncated") as err:
        load_packed(bad)
    assert str(bad) in str(err.value) and "Fix:" in str(err.value)
    bad.write_bytes(packed_file.read_bytes()[:20])
    with pytest.raises(ModelFileError, match="truncated"):
        load_packed(bad)


def test_flipped_byte(packed_file, tmp_path):
    data = bytearray(packed_file.read_bytes())
    for position in (20, len(data) // 2, len(data) - 40, len(data) - 1):
        corrupt = bytearray(data)
        corrupt[position] ^= 0x10
        bad = tmp_path / f"flipped{position}.1bit"
        bad.write_bytes(bytes(corrupt))
        with pytest.raises(ModelFileError, match="checksum") as err:
            load_packed(bad)
        assert str(bad) in str(err.value)


@pytest.mark.parametrize(
    "tamper", ["shape", "offset", "name", "kind", "bit_count", "config", "extra"])
def test_tampered_table_with_valid_checksum(packed_file, tmp_path, tamper):
    header, rest = _split(packed_file.read_bytes())
    table = header["table"]
    assert [e["kind"] for e in table[:3]] == ["gamma", "beta", "moving_mean"]
    stem = next(e for e in table if e["kind"] == "sign_bits")
    assert stem["shape"] == [3, 3, 2, 5]
    if tamper == "shape":
        stem["shape"], stem["length"] = [3, 3, 2, 8], 144
    elif tamper == "offset":
        table[1]["offset"] += 1
    elif tamper == "name":
        stem["name"] = "pathZ_stem_conv"
    elif tamper == "kind":
        table[0]["kind"], table[1]["kind"] = "beta", "gamma"
    elif tamper == "bit_count":
        header["bit_count"] += 8
    elif tamper == "config":
        header["model_config"]["num_filters"] = 6
    elif tamper == "extra":
        rest += b"\x00" * 4
    bad = tmp_path / f"{tamper}.1bit"
    _rewrite(bad, _join(header, rest))
    with pytest.raises(ModelFileError, match="table|section") as err:
        load_packed(bad)
    assert str(bad) in str(err.value)


def test_unreadable_header_and_nonzero_padding(packed_file, tmp_path):
    header, rest = _split(packed_file.read_bytes())
    bad = tmp_path / "header.1bit"
    broken = dict(header, model_config={"no_such_field": 1})
    _rewrite(bad, _join(broken, rest))
    with pytest.raises(ModelFileError, match="header"):
        load_packed(bad)
    _rewrite(bad, struct.pack("<8sHI", b"DCLC1BIT", 1, 3) + b"{x]" + rest)
    with pytest.raises(ModelFileError, match="header"):
        load_packed(bad)
    assert header["bit_count"] % 8 != 0  # the narrow model's bits end mid-byte
    last = header["bit_count"] // 8
    rest = rest[:last] + bytes([rest[last] | 1]) + rest[last + 1 :]
    _rewrite(bad, _join(header, rest))
    with pytest.raises(ModelFileError, match="padding"):
        load_packed(bad)


def test_wrong_magic_and_other_version(packed_file, tmp_path):
    data = packed_file.read_bytes()
    bad = tmp_path / "magic.1bit"
    bad.write_bytes(b"NOTMAGIC" + data[8:])
    with pytest.raises(ModelFileError, match="magic") as err:
        load_packed(bad)
    assert str(bad) in str(err.value)
    header, rest = _split(data)
    bad = tmp_path / "v2.1bit"
    _rewrite(bad, _join(header, rest, version=2))
    with pytest.raises(ModelFileError, match="version 2") as err:
        load_packed(bad)
    assert str(bad) in str(err.value)
    with pytest.raises(ModelFileError, match="cannot read"):
        load_packed(tmp_path / "does_not_exist.1bit")



def test_pack_command_writes_and_verifies(trained_model, tmp_path, capsys):
    from dcase_lowcomplexity.export.__main__ import main

    trained_model.save(tmp_path / "m.keras")
    assert main([str(tmp_path / "m.keras"), str(tmp_path / "m.1bit"), "--frames", "24"]) == 0
    out = capsys.readouterr().out
    packed = read_packed(tmp_path / "m.1bit")
    assert f"{packed.signs.size:,} sign bits in {packed.sign_bytes:,} bytes" in out
    assert packed.sign_bytes == -(-packed.signs.size // 8)
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "missing.keras"), str(tmp_path / "x.1bit")])
    assert exit_info.value.code == 2
    assert "missing.keras" in capsys.readouterr().err
    assert not (tmp_path / "x.1bit").exists()
