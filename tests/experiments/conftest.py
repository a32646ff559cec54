"""A demo dataset (with its evaluation folder) shared by the experiment tests."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dcase_lowcomplexity.data.dataset import EVALUATION_FOLDER
from dcase_lowcomplexity.data.demo import make_demo_dataset
from dcase_lowcomplexity.pipeline import DEMO_CLIPS_PER_CLASS, DEMO_EVAL_CLIPS

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = REPO / "experiments"


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory) -> tuple[Path, Path]:
    """(development folder, evaluation folder) of the demo dataset the main job uses."""
    root = tmp_path_factory.mktemp("demo")
    dev = make_demo_dataset(root, clips_per_class=DEMO_CLIPS_PER_CLASS, seed=0,
                            eval_clips=DEMO_EVAL_CLIPS)
    return dev, root / EVALUATION_FOLDER


def script_command(name: str, *args) -> list[str]:
    return [sys.executable, str(EXPERIMENTS / name), *map(str, args)]


# As a user's shell: the commands quiet TensorFlow's C++ start-up lines themselves unless
# TF_CPP_MIN_LOG_LEVEL is set (CI sets it for its own process).
SCRIPT_ENV = {**{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
              "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="session")
def run_script():
    """run_script(name, *args, cwd=…, timeout=…) runs experiments/<name> to completion."""
    def run(name: str, *args, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run(script_command(name, *args), cwd=cwd, env=SCRIPT_ENV,
                              capture_output=True, text=True, timeout=timeout)
    return run


@pytest.fixture(scope="session")
def start_script():
    """start_script(name, *args, cwd=…) starts experiments/<name> without waiting (Popen)."""
    def start(name: str, *args, cwd: Path) -> subprocess.Popen:
        return subprocess.Popen(script_command(name, *args), cwd=cwd, env=SCRIPT_ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return start


@pytest.fixture(scope="session")
def run_killed():
    """run_killed(k, name, *args, cwd=…) runs experiments/<name> until its k-th epoch
    checkpoint is written, then SIGKILLs it (tests/experiments/kill_after.py)."""
    def run(k: int, name: str, *args, cwd: Path, timeout: float = 900):
        command = [sys.executable, str(Path(__file__).with_name("kill_after.py")), str(k),
                   str(EXPERIMENTS / name), *map(str, args)]
        return subprocess.run(command, cwd=cwd, env=SCRIPT_ENV, capture_output=True,
                              text=True, timeout=timeout)
    return run
