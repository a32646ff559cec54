"""Fixtures of the data tests: the real metadata copy and small synthetic demo datasets."""
from pathlib import Path

import pytest

from dcase_lowcomplexity.data.demo import make_demo_dataset

TAU_FOLDER = "TAU-urban-acoustic-scenes-2020-3class-development"


@pytest.fixture(scope="session")
def tau_metadata_root() -> Path:
    """The real meta.csv and fold-1 lists (no audio), copied from the dataset (see LICENSE)."""
    return Path(__file__).parents[1] / "fixtures" / TAU_FOLDER


@pytest.fixture(scope="session")
def demo_out(tmp_path_factory) -> Path:
    """OUT_DIR of a 12-clip demo development set plus a 3-clip evaluation set."""
    out = tmp_path_factory.mktemp("demo")
    make_demo_dataset(out, clips_per_class=4, seed=0, eval_clips=3)
    return out


@pytest.fixture(scope="session")
def demo_root(demo_out) -> Path:
    return demo_out / TAU_FOLDER
