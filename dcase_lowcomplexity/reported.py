"""The reports' published figures, each with its source. Data only: no TensorFlow.

[R1] (the one-bit ResNet, SPEC §3–5): Table 1, Figure 2, the abstract's mean ± std over four
runs, C1's leave-one-city-out figures, the size of the network.
[R2] (the four Intel systems, SPEC §6): Table 1 (base models), Table 2 (the submissions),
Table 3 (compression against each submission's reference) and the parameter counts of its
text. [R2] counts *trainable* parameters (batch-norm γ and β included, moving statistics
not). Its sizes are parameters × bytes per parameter / 1024:
317,038 × 4 / 1024 = 1,238.43 KB, × 1 = 309.61 KB (printed 309.60, truncated).
"""
from __future__ import annotations

from dataclasses import dataclass

from dcase_lowcomplexity.config import dcase_size_kb

# -- [R1] -------------------------------------------------------------------------------------
# [R1] Table 1, official fold 1 (4,185 files): (accuracy %, log loss).
R1_TABLE1: dict[str, tuple[float, float]] = {
    "indoor": (94.7, 0.149),
    "outdoor": (97.8, 0.082),
    "transportation": (98.9, 0.054),
    "overall": (97.1, 0.094),
}
R1_FIGURE2_RAW_PERCENT = 97.18  # [R1] Figure 2: 4,067 / 4,185 correct
R1_FIGURE2_MACRO_PERCENT = 97.14  # [R1] Figure 2: mean of the class-wise accuracies
R1_ABSTRACT_MACRO_PERCENT = (96.6, 0.5)  # [R1] abstract: mean ± std over the four runs
# C1's leave-one-city-out validation accuracies (%) where SPEC §5 gives them.
C1_LOCO_PERCENT: dict[str, float] = {"barcelona": 90.17, "paris": 98.43, "mean": 95.66}
R1_WEIGHTS = 3_987_000  # [R1] §3.4: one-bit conv weights (batch norm excluded)
R1_SIZE_KB = 486.69  # [R1] §3.4: 3,987,000 bits / 8 / 1024
R1_NAME = "1-bit ResNet ([R1])"  # its row in the comparison tables

# -- [R2] -------------------------------------------------------------------------------------
BYTES_PER_PARAMETER = {"int8": 1, "float16": 2, "float32": 4}


@dataclass(frozen=True)
class R2BaseModel:
    """One row of [R2] Table 1 ("results obtained from the CNN base models")."""

    model: str
    accuracy: float  # %
    parameters: int | None  # trainable parameters; None: the table prints "-"
    size_kb: float  # "Memory KB"


# [R2] Table 1, in its order.
R2_TABLE1: tuple[R2BaseModel, ...] = (
    R2BaseModel("Baseline", 87.30, None, 450.00),
    R2BaseModel("AclNet0.5", 91.52, 317_038, 1_238.43),
    R2BaseModel("Teacher CNN", 94.60, 12_621_635, 49_303.26),
    R2BaseModel("GCC-grams CNN", 91.23, 252_491, 986.29),
)
_TABLE1 = {row.model: row for row in R2_TABLE1}


@dataclass(frozen=True)
class R2System:
    """One submission of [R2]: its Table 2 row and its Table 3 row.

    `reference` names the Table 1 model Table 3 measures it against (the teacher for the KD
    student); `reduction` and `drop` are Table 3's printed figures."""

    system: str
    parameters: int  # Table 2 "Parameters" (trainable; non-zero for the pruned model)
    storage: str  # "int8" | "float16": the exported weights (Table 3 "Format")
    size_kb: float  # Table 2 "Memory KB" as printed
    accuracy: float  # Table 2, %
    reference: str  # the Table 1 model of Table 3
    reduction: float  # Table 3 "Reduction" (×)
    drop: float  # Table 3 "Acc drop" (percentage points)
    format: str  # Table 3 "Format"
    note: str = ""

    @property
    def bytes_per_parameter(self) -> int:
        return BYTES_PER_PARAMETER[self.storage]

    @property
    def computed_size_kb(self) -> float:
        """Parameters × bytes per parameter / 1024 (the DCASE rule)."""
        return dcase_size_kb(self.parameters, self.bytes_per_parameter)

    @property
    def base(self) -> R2BaseModel:
        return _TABLE1[self.reference]

    @property
    def fp32_accuracy(self) -> float:
        """Accuracy of the Table 3 reference (Table 1)."""
        return self.base.accuracy

    @property
    def computed_reduction(self) -> float:
        """Table 1 size of the reference / Table 2 size."""
        return self.base.size_kb / self.size_kb

    @property
    def computed_drop(self) -> float:
        """Table 1 accuracy of the reference − Table 2 accuracy (points)."""
        return self.base.accuracy - self.accuracy


# [R2] Table 2 with Table 3, in their order.
R2_TABLE: tuple[R2System, ...] = (
    R2System("AclNet0.5 INT8", 317_038, "int8", 309.60, 90.94, "AclNet0.5", 4.0, 0.58, "INT8",
             "317,038 / 1024 = 309.607 KB: [R2] truncates to 309.60"),
    R2System("AclNet0.5 LT", 255_740, "float16", 499.49, 91.47, "AclNet0.5", 2.5, 0.05, "FP16",
             "19.6 % of AclNet0.5 pruned by the lottery ticket, then FP16"),
    R2System("Student CNN (KD)", 252_712, "float16", 493.58, 90.35, "Teacher CNN", 99.9, 4.25,
             "FP16", "§2.3 says 252,713 trainable parameters and 978.16 KB in FP32 "
             "(252,713 × 4 / 1024 = 987.16: a transposed-digit typo)"),
    R2System("GCC-grams CNN", 252_491, "float16", 493.15, 91.23, "GCC-grams CNN", 2.0, 0.00,
             "FP16", "Table 3 prints its name as \"CGG-grams CNN\""),
)

# Parameter counts of [R2]'s text (all "trainable parameters").
R2_TEXT_PARAMETERS: dict[str, int] = {
    "AclNet0.5": 317_038,  # §2.1 (and §2.2: "317,038 parameters is pruned at 19.6%")
    "AclNet0.5 LT": 255_740,  # §2.2
    "Student CNN": 252_713,  # §2.3 (Table 2 prints 252,712)
    "GCC-grams CNN": 252_491,  # §2.4
}
R2_TEXT_TEACHER = "12.6 M"  # §2.3: "12.6 M trainable parameters, and 49 MB of memory"
R2_STUDENT_TEXT_FP32_KB = 978.16  # §2.3 as printed (987.16 by the rule)
R2_PRUNE_PERCENT = 19.6  # §2.2

R2_TEACHER_PARAMETERS = _TABLE1["Teacher CNN"].parameters  # 12,621,635 (Table 1)
R2_TEACHER_ACCURACY = _TABLE1["Teacher CNN"].accuracy  # 94.60 %
R2_TEACHER_SIZE_KB = _TABLE1["Teacher CNN"].size_kb  # 49,303.26 KB
R2_CHALLENGE_BASELINE = (_TABLE1["Baseline"].accuracy, _TABLE1["Baseline"].size_kb)  # 87.30 %, 450 KB
TEACHER_NAME = "VGG-12 teacher (KD, not submitted)"  # its row in the comparison tables


def r2_system(name: str) -> R2System:
    """[R2]'s row named `name` (KeyError listing the names otherwise)."""
    for row in R2_TABLE:
        if row.system == name:
            return row
    raise KeyError(f"{name!r} is not one of {[r.system for r in R2_TABLE]}")
