"""DCASE2020 size accounting (SPEC §1, §3, §6): non-zero parameters × bits, BN excluded."""
import csv
import dataclasses

import keras
import numpy as np
import pytest

from dcase_lowcomplexity.config import ModelConfig, demo_config
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.export.bitpack import save_packed
from dcase_lowcomplexity.export.size.__main__ import main
from dcase_lowcomplexity.export.size import (
    SizeReport, model_size_report, non_zero_trainable_parameters, size_summary,
    summary_of_report, trainable_parameters,
)
from dcase_lowcomplexity.layers import BinaryConv2D
from dcase_lowcomplexity.models.binary_resnet import build_binary_resnet

NARROW = ModelConfig(num_filters=8, head_width=32)


def _dense_model(inputs: int, dtype="float32") -> keras.Model:
    """A Dense(1) model with `inputs + 1` parameters, all set non-zero."""
    model = keras.Sequential(
        [keras.Input((inputs,)), keras.layers.Dense(1, dtype=dtype, name="dense")])
    layer = model.layers[0]
    layer.set_weights([np.full((inputs, 1), 0.25), np.full((1,), 0.5)])
    return model


@pytest.fixture(scope="module")
def paper_report():
    return model_size_report(build_binary_resnet())


def test_paper_model_is_3987000_bits_486_69_kb(paper_report):
    assert isinstance(paper_report, SizeReport)
    assert paper_report.total_parameters == 3_987_000
    assert paper_report.non_zero_parameters == 3_987_000
    assert paper_report.size_bytes == 498_375
    assert round(paper_report.size_kb, 2) == 486.69
    assert paper_report.bn_parameters_excluded == 6_340
    assert round(paper_report.bn_kb, 2) == 24.77
    assert len(paper_report.rows) == 36
    assert {r.kind for r in paper_report.rows} == {"BinaryConv2D"}
    assert {r.bits_per_param for r in paper_report.rows} == {1}
    stem = next(r for r in paper_report.rows if r.name == "pathA_stem_conv")
    assert (stem.parameters, stem.non_zero, stem.size_bytes) == (468, 468, 58.5)


def test_forced_storage_on_the_paper_model():
    model = build_binary_resnet()
    report = model_size_report(model, storage="float32")
    assert report.size_bytes == 3_987_000 * 4
    assert round(report.size_kb, 2) == 15_574.22
    assert model_size_report(model, storage="binary").size_bytes == 498_375
    assert model_size_report(model, storage="float16").size_bytes == 3_987_000 * 2


@pytest.mark.parametrize(
    "inputs, dtype, storage, params, kb",
    [
        (317_037, "float32", None, 317_038, 1_238.43),  # AclNet0.5 FP32 ([R2])
        (317_037, "float32", "int8", 317_038, 309.61),  # AclNet0.5 INT8 (report: 309.60)
        (252_712, "float16", None, 252_713, 493.58),  # student CNN FP16 ([R2])
        (252_712, "float16", "float32", 252_713, 987.16),  # [R2]'s "978.16" typo
        (252_490, "float32", "float16", 252_491, 493.15),  # GCC-grams CNN FP16
    ],
)
def test_r2_sizes_on_models_with_known_counts(inputs, dtype, storage, params, kb):
    report = model_size_report(_dense_model(inputs, dtype), storage=storage)
    bits = {"int8": 8, "float16": 16, "float32": 32}[storage or dtype]
    assert report.total_parameters == report.non_zero_parameters == params
    assert report.rows[0].bits_per_param == bits
    assert report.size_bytes == params * bits / 8
    assert round(report.size_kb, 2) == kb
    assert report.bn_parameters_excluded == 0


def test_zero_weights_are_not_counted():
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(4)])
    kernel = np.ones((10, 4), "float32")
    kernel[:3] = 0.0  # 12 pruned weights
    model.layers[0].set_weights([kernel, np.zeros(4, "float32")])  # the bias is zero too
    report = model_size_report(model)
    assert report.total_parameters == 44
    assert report.non_zero_parameters == 28
    assert report.size_bytes == 28 * 4
    assert model_size_report(model, storage="float16").size_bytes == 28 * 2
    # Stored as one bit, a zero is still a bit (sign(0) = +1).
    assert model_size_report(model, storage="binary").size_bytes == 44 / 8


def test_binary_kernels_count_every_weight_even_zeros():
    model = keras.Sequential([keras.Input((6, 6, 4)), BinaryConv2D(8)])
    layer = model.layers[0]
    layer.kernel.assign(np.zeros(layer.kernel.shape, "float32"))
    for storage, bits in ((None, 1), ("float32", 32), ("int8", 8)):
        report = model_size_report(model, storage=storage)
        assert report.non_zero_parameters == report.total_parameters == 288
        assert report.size_bytes == 288 * bits / 8


def test_conv_bn_dense_model_excludes_batch_norm():
    model = keras.Sequential([
        keras.Input((16, 16, 2)),
        keras.layers.Conv2D(8, 3, bias_initializer="ones"),  # 3·3·2·8 + 8 = 152
        keras.layers.BatchNormalization(),  # 4 · 8 = 32, excluded
        keras.layers.ReLU(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, bias_initializer="ones"),  # 8·3 + 3 = 27
    ])
    report = model_size_report(model)
    assert [(r.kind, r.parameters) for r in report.rows] == [("Conv2D", 152), ("Dense", 27)]
    assert report.total_parameters == 179
    assert report.size_bytes == 179 * 4
    assert report.size_kb == 179 * 4 / 1024
    assert report.bn_parameters_excluded == 32


@pytest.mark.filterwarnings("ignore:Layer InputLayer does not have a `quantize`")
def test_keras_int8_quantised_model_counts_each_weight_by_its_dtype():
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(4, bias_initializer="ones")])
    # Magnitudes within a factor 2 of each other: none rounds to an int8 zero.
    signs = np.where(np.arange(40) % 3 == 0, -1.0, 1.0).reshape(10, 4)
    model.layers[0].kernel.assign(signs * np.linspace(0.5, 1.0, 40).reshape(10, 4))
    model.quantize("int8")
    assert model.layers[0].kernel.dtype == "int8"
    report = model_size_report(model)
    # int8 kernel 40 × 8 bits; float32 bias 4 and per-channel kernel_scale 4, 32 bits each.
    assert sorted((r.bits_per_param, r.parameters) for r in report.rows) == [(8, 40), (32, 8)]
    assert report.total_parameters == 48
    assert report.size_bytes == 40 + 8 * 4
    assert model_size_report(model, storage="int8").size_bytes == 48


def test_nested_models_are_walked():
    inner = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2, name="d")], name="inner")
    inputs = keras.Input((5,))
    outer = keras.Model(inputs, keras.layers.Dense(1, name="top")(inner(inputs)))
    report = model_size_report(outer)
    assert [(r.name, r.parameters) for r in report.rows] == [("inner/d", 12), ("top", 3)]


def test_float_twin_counts_32_bits():
    binary = model_size_report(build_binary_resnet(NARROW))
    twin = model_size_report(build_binary_resnet(dataclasses.replace(NARROW, binary=False)))
    assert twin.total_parameters == twin.non_zero_parameters == binary.total_parameters
    assert twin.size_bytes == 32 * binary.size_bytes
    assert twin.bn_parameters_excluded == binary.bn_parameters_excluded


def test_unknown_storage_is_refused():
    with pytest.raises(ConfigError, match="storage"):
        model_size_report(_dense_model(3), storage="int4")


def test_markdown_dict_and_csv(tmp_path):
    report = model_size_report(_dense_model(317_037), storage="int8")
    text = report.to_markdown()
    assert "| dense | Dense | 317,038 | 317,038 | 8 | 317,038 |" in text
    assert "**309.61 KB**" in text
    d = report.to_dict()
    assert d["total_parameters"] == 317_038 and d["storage"] == "int8"
    assert d["rows"][0]["bits_per_param"] == 8
    path = report.to_csv(tmp_path / "out" / "size.csv")
    rows = list(csv.DictReader(path.open()))
    assert [r["name"] for r in rows] == ["dense", "total"]
    assert int(rows[-1]["parameters"]) == 317_038
    assert float(rows[-1]["size_bytes"]) == 317_038
    assert [p.name for p in path.parent.iterdir()] == ["size.csv"]


def test_command_sizes_the_paper_model(capsys, paper_report):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "**486.69 KB** (498,375 bytes)" in out
    assert "| **total** | | 3,987,000 | 3,987,000 | | 498,375 |" in out
    assert "6,340 (24.77 KB as float32)" in out


def test_command_demo_config_and_files(capsys, tmp_path):
    demo = build_binary_resnet(demo_config().model)
    expected = model_size_report(demo)
    assert main(["--config", "demo"]) == 0
    assert f"**{expected.size_kb:,.2f} KB**" in capsys.readouterr().out
    # Width 8: per path 144 + 4·576 + 1,152 + 3·2,304 + 4,608 + 3·9,216 + 18,432 + 3·36,864
    # = 171,792; head 3·3·64·32 + 32·3 = 18,528.
    assert expected.total_parameters == 2 * 171_792 + 18_528 == 362_112
    assert round(expected.size_kb, 2) == 44.20
    save_packed(demo, tmp_path / "demo.1bit")
    assert main([str(tmp_path / "demo.1bit")]) == 0
    assert f"| **total** | | {expected.total_parameters:,} |" in capsys.readouterr().out
    demo.save(tmp_path / "demo.keras")
    assert main([str(tmp_path / "demo.keras"), "--storage", "float32"]) == 0
    assert f"**{expected.total_parameters * 4 / 1024:,.2f} KB**" in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"not a model at all", b"PK\x03\x04broken zip", None])
def test_command_exits_2_on_a_bad_file(capsys, tmp_path, content):
    path = tmp_path / "bad.keras"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SystemExit) as exit_info:
        main([str(path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(path) in err and "Fix:" in err


# ------------------------------------------------------------ [R2]'s count: trainable parameters


def _conv_bn_dense():
    return keras.Sequential([
        keras.Input((8, 8, 2)),
        keras.layers.Conv2D(4, 3, bias_initializer="ones"),  # 3·3·2·4 + 4 = 76
        keras.layers.BatchNormalization(),  # γ, β: 8 trainable; moving mean, variance: 8
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, bias_initializer="ones"),  # 4·3 + 3 = 15
    ])


def test_trainable_count_includes_gamma_beta_not_moving_statistics():
    model = _conv_bn_dense()
    assert trainable_parameters(model) == 76 + 8 + 15 == 99
    assert model.count_params() == 107  # Keras' count adds the 8 moving statistics
    assert model_size_report(model).total_parameters == 91  # DCASE: batch norm excluded
    # β starts at zero: 4 of the 99 trainable parameters are zero.
    assert non_zero_trainable_parameters(model) == 95
    kernel = model.layers[0].kernel
    kernel.assign(np.where(np.arange(72).reshape(kernel.shape) < 10, 0.0, kernel.numpy()))
    assert non_zero_trainable_parameters(model) == 85  # 10 pruned kernel weights


def test_size_summary_of_a_pruned_float16_model(tmp_path):
    base = _conv_bn_dense()
    shipped = keras.models.clone_model(base)
    shipped.set_weights(base.get_weights())
    kernel = shipped.layers[0].kernel
    kernel.assign(np.where(np.arange(72).reshape(kernel.shape) < 10, 0.0, kernel.numpy()))
    file = tmp_path / "model_fp16.tflite"
    file.write_bytes(b"x" * 1234)
    s = size_summary(shipped, "float16", file, base)
    assert (s.storage, s.bytes_per_parameter) == ("float16", 2)
    assert (s.trainable, s.trainable_non_zero) == (99, 85)
    assert (s.dcase_parameters, s.dcase_non_zero, s.bn_parameters) == (91, 81, 16)
    assert s.dcase_kb == 81 * 2 / 1024
    assert (s.file, s.file_bytes) == ("model_fp16.tflite", 1234)
    assert s.fp32_base == {"trainable": 99, "trainable_non_zero": 95, "dcase_non_zero": 91,
                           "dcase_kb": 91 * 4 / 1024}
    assert s.to_dict()["fp32_base"]["dcase_kb"] == 91 * 4 / 1024
    bare = size_summary(shipped, "int8")
    assert (bare.file, bare.file_bytes, bare.fp32_base, bare.dcase_kb) == (None, None, None, 81 / 1024)
    with pytest.raises(ConfigError, match="int4"):
        size_summary(shipped, "int4")


def test_size_summary_of_a_one_bit_model():
    model = build_binary_resnet(NARROW)
    report = model_size_report(model)
    s = size_summary(model, "1bit", None, model)
    assert s.bytes_per_parameter == 1 / 8 and s.dcase_kb == report.size_kb
    assert s.dcase_parameters == report.total_parameters
    assert s.fp32_base["dcase_kb"] == 32 * s.dcase_kb  # the same weights in float32
    assert s.trainable == trainable_parameters(model)
    from_report = summary_of_report(report)
    assert (from_report.dcase_kb, from_report.fp32_base["dcase_kb"]) == (
        s.dcase_kb, s.fp32_base["dcase_kb"])
    assert from_report.trainable is None


@pytest.mark.parametrize("inputs, trainable", [(317_037, 317_038), (252_490, 252_491)])
def test_r2_kb_from_trainable_counts(inputs, trainable):
    """[R2] §2.1, §2.4: 317,038 trainable parameters = 1,238.43 KB in FP32; 252,491 → 986.29."""
    model = _dense_model(inputs)
    s = size_summary(model, "float32", None, model)
    assert s.trainable == trainable
    assert round(s.dcase_kb, 2) == {317_038: 1_238.43, 252_491: 986.29}[trainable]
    assert round(size_summary(model, "float16").dcase_kb, 2) == {317_038: 619.21,
                                                                 252_491: 493.15}[trainable]


def test_command_r2_prints_our_counts_beside_the_report(capsys, monkeypatch):
    from dcase_lowcomplexity.export.size import __main__ as cli_size

    rows = cli_size.r2_network_counts()
    assert [r[0].split(" (")[0] for r in rows] == [
        "AclNet0.5", "AclNet0.5 LT", "Teacher CNN", "Student CNN", "GCC-grams CNN"]
    from dcase_lowcomplexity.models.teacher import build_teacher
    assert rows[2][1] == trainable_parameters(build_teacher())
    monkeypatch.setattr(cli_size, "r2_network_counts", lambda: rows)
    assert main(["--r2"]) == 0
    out = capsys.readouterr().out
    for theirs in ("317,038", "255,740", "12,621,635", "252,713 (§2.3); 252,712 (Table 2)",
                   "252,491"):
        assert theirs in out
    assert f"| Teacher CNN (VGG-12) | {rows[2][1]:,} | 12,621,635 |" in out


@pytest.mark.parametrize("module, args, code, text", [
    ("dcase_lowcomplexity.export.size", ["--config", "demo"], 0, "**44.20 KB**"),
    ("dcase_lowcomplexity.export.tflite", [], 2, "give MODEL_FILE and OUTPUT, or --r2"),
])
def test_python_m_entry_points_still_work(module, args, code, text):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=env, cwd=root, timeout=300)
    assert done.returncode == code, done.stderr[-2000:]
    assert text in done.stdout + done.stderr
