"""Result tables in the layout of [R1] Table 1, across seeds, and across left-out cities.

- `results_table`: rows indoor, outdoor, transportation, overall; columns accuracy (%) and
  log loss; "overall" accuracy is the macro average (the task's metric), the raw accuracy is
  given beside it ([R1] Figure 2: raw 97.18 %, macro 97.14 %). Written as results.md/.csv.
- `comparison_table`: ours next to [R1] Table 1 (`reported.R1_TABLE1`).
- `seeds_table`: mean ± sample standard deviation (ddof = 1) per row over independent runs
  ([R1]'s "four submissions"; its abstract reports 96.6 ± 0.5 % macro accuracy).
- `loco_table`: leave-one-city-out accuracies and their mean, with C1's figures beside them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from dcase_lowcomplexity.config import CLASS_NAMES
from dcase_lowcomplexity.errors import ConfigError
from dcase_lowcomplexity.evaluation.metrics import ClipScores, score_clips
from dcase_lowcomplexity.reported import (
    C1_LOCO_PERCENT, R1_ABSTRACT_MACRO_PERCENT, R1_TABLE1,
)
from dcase_lowcomplexity.atomic import atomic_write_text

ROWS = (*CLASS_NAMES, "overall")


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _fmt(value: float, digits: int) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


@dataclass(frozen=True)
class ResultsTable:
    """[R1] Table 1 for one set of predictions; `frame` has accuracy_percent, log_loss, files."""

    scores: ClipScores

    @property
    def frame(self) -> pd.DataFrame:
        s = self.scores
        counts = s.confusion.sum(axis=1)
        data = {
            "accuracy_percent": [*(100 * s.per_class_accuracy), 100 * s.balanced_accuracy],
            "log_loss": [*s.per_class_log_loss, s.log_loss],
            "files": [*counts.tolist(), int(counts.sum())],
        }
        return pd.DataFrame(data, index=pd.Index([*s.class_names, "overall"], name="row"))

    @property
    def macro_accuracy_percent(self) -> float:
        return 100 * self.scores.balanced_accuracy

    @property
    def raw_accuracy_percent(self) -> float:
        return 100 * self.scores.accuracy

    def to_markdown(self) -> str:
        f = self.frame
        rows = [[name, _fmt(r.accuracy_percent, 2), _fmt(r.log_loss, 3), str(int(r.files))]
                for name, r in f.iterrows()]
        rows[-1] = [f"**{c}**" for c in rows[-1]]
        table = _markdown(["class", "accuracy (%)", "log loss", "files"], rows, "lrrr")
        return (f"{table}\n\nOverall accuracy = macro average of the class-wise accuracies: "
                f"**{self.macro_accuracy_percent:.2f} %**; raw accuracy (correct / total): "
                f"{self.raw_accuracy_percent:.2f} %. Log loss: mean over all files.\n")

    def to_csv(self) -> str:
        f = self.frame.copy()
        raw = pd.DataFrame({"accuracy_percent": [self.raw_accuracy_percent],
                            "log_loss": [np.nan], "files": [int(f.files.iloc[-1])]},
                           index=pd.Index(["overall_raw"], name="row"))
        return pd.concat([f, raw]).to_csv(float_format="%.10g")

    def write(self, out_dir: str | Path, stem: str = "results") -> tuple[Path, Path]:
        """Writes `<stem>.md` and `<stem>.csv` atomically; returns both paths."""
        out_dir = Path(out_dir)
        md = atomic_write_text(out_dir / f"{stem}.md", self.to_markdown())
        csv = atomic_write_text(out_dir / f"{stem}.csv", self.to_csv())
        return md, csv


def results_table(y_true, probs, class_names: tuple[str, ...] = CLASS_NAMES) -> ResultsTable:
    """[R1] Table 1 from true labels and class probabilities."""
    return ResultsTable(score_clips(y_true, probs, class_names))


def _as_scores(result) -> ClipScores:
    return result.scores if isinstance(result, ResultsTable) else result


def comparison_table(result, reference: Mapping[str, tuple[float, float]] = R1_TABLE1) -> str:
    """Markdown: our accuracy and log loss beside [R1] Table 1's, with the differences."""
    f = ResultsTable(_as_scores(result)).frame
    rows = []
    for name in ROWS:
        acc, ll = f.loc[name, "accuracy_percent"], f.loc[name, "log_loss"]
        ref_acc, ref_ll = reference[name]
        rows.append([name, _fmt(acc, 2), f"{ref_acc:.1f}", f"{acc - ref_acc:+.2f}",
                     _fmt(ll, 3), f"{ref_ll:.3f}", f"{ll - ref_ll:+.3f}"])
    return _markdown(["class", "accuracy (%)", "[R1] (%)", "Δ", "log loss", "[R1]", "Δ"],
                     rows, "lrrrrrr")


def seeds_table(results: Sequence) -> pd.DataFrame:
    """Mean and sample std (ddof = 1) over independent runs of every Table 1 row + raw."""
    scores = [_as_scores(r) for r in results]
    if not scores:
        raise ConfigError("seeds_table needs at least one run")
    acc = np.array([[*(100 * s.per_class_accuracy), 100 * s.balanced_accuracy,
                     100 * s.accuracy] for s in scores])
    ll = np.array([[*s.per_class_log_loss, s.log_loss, np.nan] for s in scores])
    ddof = 1 if len(scores) > 1 else 0
    index = pd.Index([*scores[0].class_names, "overall", "overall_raw"], name="row")
    return pd.DataFrame({
        "accuracy_mean": acc.mean(axis=0), "accuracy_std": acc.std(axis=0, ddof=ddof),
        "log_loss_mean": ll.mean(axis=0), "log_loss_std": ll.std(axis=0, ddof=ddof),
        "runs": len(scores)}, index=index)


def seeds_markdown(table: pd.DataFrame) -> str:
    rows = [[name, f"{r.accuracy_mean:.2f} ± {r.accuracy_std:.2f}",
             "–" if np.isnan(r.log_loss_mean) else f"{r.log_loss_mean:.3f} ± {r.log_loss_std:.3f}"]
            for name, r in table.iterrows()]
    ref_mean, ref_std = R1_ABSTRACT_MACRO_PERCENT
    return (_markdown(["row", "accuracy (%)", "log loss"], rows, "lrr")
            + f"\n\n{int(table.runs.iloc[0])} runs, mean ± sample std. [R1] abstract: "
              f"{ref_mean} ± {ref_std} % macro accuracy over independent runs.\n")


def loco_table(per_city: Mapping[str, object]) -> pd.DataFrame:
    """Per left-out city: macro and raw accuracy (%), log loss, files; then the mean row."""
    if not per_city:
        raise ConfigError("loco_table needs at least one city")
    rows = {}
    for city in sorted(per_city):
        s = _as_scores(per_city[city])
        rows[city] = [100 * s.balanced_accuracy, 100 * s.accuracy, s.log_loss, s.n_files,
                      C1_LOCO_PERCENT.get(city, np.nan)]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=[
        "accuracy_percent", "raw_accuracy_percent", "log_loss", "files", "c1_percent"])
    mean = frame.drop(columns="files").mean(axis=0)
    frame.loc["mean"] = [mean.accuracy_percent, mean.raw_accuracy_percent, mean.log_loss,
                         int(frame.files.sum()), C1_LOCO_PERCENT["mean"]]
    frame.index.name = "city"
    frame["files"] = frame["files"].astype(int)
    return frame


def loco_markdown(table: pd.DataFrame) -> str:
    rows = [[city, _fmt(r.accuracy_percent, 2), _fmt(r.raw_accuracy_percent, 2),
             _fmt(r.log_loss, 3), str(int(r.files)), _fmt(r.c1_percent, 2)]
            for city, r in table.iterrows()]
    rows[-1] = [f"**{c}**" for c in rows[-1]]
    return _markdown(["left-out city", "accuracy (%)", "raw (%)", "log loss", "files",
                      "C1 (%)"], rows, "lrrrrr") + (
        "\n\nAccuracy = macro average over classes; mean = mean over cities (C1's mean is "
        "over its 10 LOCO models).\n")
