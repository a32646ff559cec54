"""reported.py holds the reports' literals (R1.txt, R2.txt); the DCASE rule reproduces them."""
import math

import pytest

from dcase_lowcomplexity import reported as rep
from dcase_lowcomplexity.config import dcase_size_kb


def test_r1_figures():
    assert rep.R1_TABLE1 == {"indoor": (94.7, 0.149), "outdoor": (97.8, 0.082),
                             "transportation": (98.9, 0.054), "overall": (97.1, 0.094)}
    assert (rep.R1_FIGURE2_RAW_PERCENT, rep.R1_FIGURE2_MACRO_PERCENT) == (97.18, 97.14)
    assert rep.R1_ABSTRACT_MACRO_PERCENT == (96.6, 0.5)
    assert rep.C1_LOCO_PERCENT == {"barcelona": 90.17, "paris": 98.43, "mean": 95.66}
    assert round(rep.R1_WEIGHTS / 8 / 1024, 2) == rep.R1_SIZE_KB == 486.69


def test_r2_table1_base_models():
    assert [(r.model, r.accuracy, r.parameters, r.size_kb) for r in rep.R2_TABLE1] == [
        ("Baseline", 87.30, None, 450.00),
        ("AclNet0.5", 91.52, 317_038, 1_238.43),
        ("Teacher CNN", 94.60, 12_621_635, 49_303.26),
        ("GCC-grams CNN", 91.23, 252_491, 986.29),
    ]
    for row in rep.R2_TABLE1[1:]:  # sizes are trainable parameters × 4 / 1024
        assert round(dcase_size_kb(row.parameters, 4), 2) == row.size_kb
    assert (rep.R2_TEACHER_PARAMETERS, rep.R2_TEACHER_ACCURACY) == (12_621_635, 94.60)
    assert rep.R2_TEACHER_SIZE_KB == 49_303.26 and rep.R2_TEXT_TEACHER == "12.6 M"
    assert rep.R2_CHALLENGE_BASELINE == (87.30, 450.0)


def test_r2_table2_and_table3():
    assert [(r.system, r.accuracy, r.parameters, r.size_kb) for r in rep.R2_TABLE] == [
        ("AclNet0.5 INT8", 90.94, 317_038, 309.60),
        ("AclNet0.5 LT", 91.47, 255_740, 499.49),
        ("Student CNN (KD)", 90.35, 252_712, 493.58),
        ("GCC-grams CNN", 91.23, 252_491, 493.15),
    ]
    assert [(r.reduction, r.drop, r.format) for r in rep.R2_TABLE] == [
        (4.0, 0.58, "INT8"), (2.5, 0.05, "FP16"), (99.9, 4.25, "FP16"), (2.0, 0.00, "FP16")]
    assert [r.reference for r in rep.R2_TABLE] == [
        "AclNet0.5", "AclNet0.5", "Teacher CNN", "GCC-grams CNN"]
    assert [r.storage for r in rep.R2_TABLE] == ["int8", "float16", "float16", "float16"]


def test_table3_follows_from_tables_1_and_2():
    for row in rep.R2_TABLE:  # Table 3 = Table 1 reference against Table 2, as printed
        assert round(row.computed_reduction, 1) == row.reduction, row.system
        assert round(row.computed_drop, 2) == pytest.approx(row.drop), row.system
    student = rep.r2_system("Student CNN (KD)")
    assert student.fp32_accuracy == 94.60  # measured against the teacher
    assert student.computed_reduction == pytest.approx(49_303.26 / 493.58)  # 99.89


def test_table2_sizes_by_the_dcase_rule():
    int8 = rep.r2_system("AclNet0.5 INT8")
    assert int8.computed_size_kb == 317_038 / 1024
    assert round(int8.computed_size_kb, 2) == 309.61  # [R2] truncates to 309.60
    assert math.floor(int8.computed_size_kb * 100) / 100 == 309.60
    assert round(dcase_size_kb(317_038, 4), 2) == 1_238.43
    for name in ("AclNet0.5 LT", "GCC-grams CNN"):
        assert round(rep.r2_system(name).computed_size_kb, 2) == rep.r2_system(name).size_kb
    # The student: §2.3 says 252,713; Table 2 says 252,712; both give 493.58 KB in FP16.
    assert rep.R2_TEXT_PARAMETERS["Student CNN"] == 252_713
    assert round(dcase_size_kb(252_713, 2), 2) == round(dcase_size_kb(252_712, 2), 2) == 493.58
    assert round(dcase_size_kb(252_713, 4), 2) == 987.16 != rep.R2_STUDENT_TEXT_FP32_KB == 978.16
    assert all(r.computed_size_kb < 500 for r in rep.R2_TABLE)  # the DCASE 500 KB limit


def test_r2_text_counts():
    assert rep.R2_TEXT_PARAMETERS == {"AclNet0.5": 317_038, "AclNet0.5 LT": 255_740,
                                      "Student CNN": 252_713, "GCC-grams CNN": 252_491}
    assert rep.R2_PRUNE_PERCENT == 19.6
    with pytest.raises(KeyError, match="AclNet0.5 INT8"):
        rep.r2_system("nope")
