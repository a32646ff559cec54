"""experiments/reproduce_tables.py on a broken validation_predictions.csv: one error naming the
file (exit 2), no traceback, no table written: never a table computed from bad rows."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dcase_lowcomplexity.evaluation.outputs import PREDICTIONS_FILE, write_scores

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
HEADER = "filename,class_index,indoor,outdoor,transportation\n"
GOOD_ROW = "audio/b.wav,1,0.2,0.8,0\n"


def _script():
    spec = importlib.util.spec_from_file_location("reproduce_tables",
                                                  EXPERIMENTS / "reproduce_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _good_run(run_dir):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 6)
    probs = rng.dirichlet(np.ones(3), len(y))
    run_dir.mkdir(parents=True)
    write_scores(run_dir, [f"audio/{i}.wav" for i in range(len(y))], y, probs)


CASES = {
    "binary": (b"\x00\xff\xfe\x89PNG", "unreadable predictions (UnicodeDecodeError"),
    "empty": (b"", "unreadable predictions (EmptyDataError"),
    "header only": (HEADER.encode(), "no predictions (the file holds a header only)"),
    "no class columns": (b"filename\naudio/a.wav\n", "unreadable predictions (KeyError"),
    "ragged": ((HEADER + GOOD_ROW + "audio/c.wav,1,0.2,0.8,0,9,9\n").encode(),
               "unreadable predictions (ParserError"),
    "open quote": ((HEADER + '"audio/a.wav,0,0.5,0.5,0\n').encode(),
                   "unreadable predictions (ParserError"),
    "text probability": ((HEADER + "audio/a.wav,0,abc,0.5,0.5\n").encode(),
                         "unreadable predictions (ValueError"),
    "NaN probability": ((HEADER + GOOD_ROW + "audio/a.wav,0,nan,0.5,0.5\n").encode(),
                        "row 3 holds a probability that is not a finite number"),
    "empty probability": ((HEADER + "audio/a.wav,0,,0.5,0.5\n" + GOOD_ROW).encode(),
                          "row 2 holds a probability that is not a finite number"),
    "negative probability": ((HEADER + GOOD_ROW + "audio/a.wav,0,-0.5,1.5,0\n").encode(),
                             "row 3 holds a probability outside [0, 1]"),
    "rows not summing to 1": ((HEADER + "audio/a.wav,0,0.9,0.9,0.9\n").encode(),
                              "row 2 has probabilities that do not sum to 1"),
    "label out of range": ((HEADER + GOOD_ROW + "audio/a.wav,7,0.5,0.5,0\n").encode(),
                           "row 3: class_index 7 is not an integer in 0…2"),
    "label missing": ((HEADER + "audio/a.wav,,0.5,0.5,0\n" + GOOD_ROW).encode(),
                      "row 2: class_index nan is not an integer in 0…2"),
    "label as text": ((HEADER + GOOD_ROW + "audio/a.wav,indoor,0.5,0.5,0\n").encode(),
                      "row 3: class_index indoor is not an integer in 0…2"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_broken_predictions_are_one_error_naming_the_file(tmp_path, capsys, case):
    data, message = CASES[case]
    _good_run(tmp_path / "good")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / PREDICTIONS_FILE).write_bytes(data)
    out = tmp_path / "tables"
    with pytest.raises(SystemExit) as stop:
        _script().main([str(tmp_path / "good"), str(broken), "--out", str(out)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {broken / PREDICTIONS_FILE}: {message}"), err
    assert "rerun the run's command" in err and not out.exists()


def test_one_nan_probability_through_the_command_line(tmp_path, run_script):
    _good_run(tmp_path / "run")
    path = tmp_path / "run" / PREDICTIONS_FILE
    lines = path.read_text().splitlines()
    fields = lines[5].split(",")
    fields[2] = "nan"
    lines[5] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    result = run_script("reproduce_tables.py", tmp_path / "run", "--out", tmp_path / "tables",
                        cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"error: {path}: row 6 holds a probability that is not a "
                                     "finite number Fix: rerun the run's command to rewrite it")
    assert not (tmp_path / "tables").exists()
