"""evaluation/summary.py: one summary.json per run, written atomically, read back or refused
with an error naming the file."""
import json

import keras
import pytest

from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.evaluation.summary import (
    SUMMARY_FILE, SUMMARY_FORMAT, RunSummary, read_summary, write_summary,
)
from dcase_lowcomplexity.export.size import size_summary


@pytest.fixture(scope="module")
def sizes():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, bias_initializer="ones")])
    return size_summary(model, "float16", None, model)


def _summary(sizes, **changes):
    fields = dict(system="task1b_gccgram", table_name="GCC-grams CNN",
                  label="Lopez-Meyer_IL_task1b_4", storage="float16", sizes=sizes,
                  scored="model_fp16.tflite", folders={"fp32": "fp32"}, extra={"epochs": 2})
    return RunSummary(**{**fields, **changes})


def test_round_trip(tmp_path, sizes):
    path = write_summary(tmp_path, _summary(sizes))
    assert path == tmp_path / SUMMARY_FILE and [p.name for p in tmp_path.iterdir()] == [SUMMARY_FILE]
    data = json.loads(path.read_text())
    assert data["format"] == SUMMARY_FORMAT and data["sizes"]["dcase_kb"] == 15 * 2 / 1024
    back = read_summary(tmp_path)
    assert back == _summary(sizes.to_dict())
    assert (back.reference, back.reference_sizes, back.extra) == ("fp32", {}, {"epochs": 2})
    assert back.sizes["trainable"] == 15 and back.sizes["fp32_base"]["dcase_kb"] == 60 / 1024


def test_write_refuses_incomplete_sizes(tmp_path, sizes):
    with pytest.raises(ConfigError, match="lack .*dcase_kb"):
        write_summary(tmp_path, _summary({"storage": "float16"}))
    with pytest.raises(ConfigError, match="reference 'teacher' has no sizes"):
        write_summary(tmp_path, _summary(sizes, reference="teacher"))
    assert not (tmp_path / SUMMARY_FILE).exists()


@pytest.mark.parametrize("content, message", [
    (None, "no run summary"),
    ("{not json", "cannot read the run summary"),
    ('{"format": "dcase_lowcomplexity.r2_system/1"}', "not a run summary of format"),
    (json.dumps({"format": SUMMARY_FORMAT, "system": "x"}), "damaged run summary"),
])
def test_read_names_the_file(tmp_path, content, message):
    if content is not None:
        (tmp_path / SUMMARY_FILE).write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        read_summary(tmp_path)
    assert str(tmp_path / SUMMARY_FILE) in str(info.value) and "Fix:" in str(info.value)
