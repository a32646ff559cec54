"""Installs dcase_lowcomplexity; dependencies are read from requirements.txt."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
REQUIREMENTS = [
    line.split("#")[0].strip()
    for line in (HERE / "requirements.txt").read_text().splitlines()
    if line.split("#")[0].strip()
]

setup(
    name="dcase_lowcomplexity",
    version="0.1.0",
    description=(
        "DCASE2020 Task 1b: one-bit-per-weight deep CNNs (McDonnell) and the "
        "low-memory CNNs of Lopez-Meyer et al., in TensorFlow 2 / Keras 3"
    ),
    packages=find_packages(include=["dcase_lowcomplexity", "dcase_lowcomplexity.*"]),
    python_requires=">=3.10",
    install_requires=REQUIREMENTS,
)
