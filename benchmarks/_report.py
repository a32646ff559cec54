"""Writes one benchmark's figures into its own section of benchmarks/README.md.

Each script owns the text between `<!-- begin NAME -->` and `<!-- end NAME -->`; rerunning it
replaces that section only, so the scripts never overwrite each other's figures.
"""
from __future__ import annotations

import datetime
import os
import platform
import re
from pathlib import Path

README = Path(__file__).with_name("README.md")


def machine_line() -> str:
    import numpy

    try:
        import tensorflow as tf

        tf_version = tf.__version__
    except ImportError:  # pragma: no cover - TF is a dependency
        tf_version = "n/a"
    return (
        f"{datetime.date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, NumPy {numpy.__version__}, TF {tf_version}"
    )


def write_section(name: str, markdown: str, readme: Path = README) -> None:
    """Replace (or append) the section NAME of the benchmarks README with `markdown`."""
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{begin}\n{markdown.strip()}\n\n_Measured: {machine_line()}._\n{end}"
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    tmp = readme.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(readme)
