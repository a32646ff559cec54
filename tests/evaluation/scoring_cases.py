"""Predictions whose scores are known by hand: [R1] Figure 2's confusion matrix, fixed confidences."""
import numpy as np

# [R1] Figure 2 rebuilt: fold-1 evaluate counts 1297 / 1604 / 1284 (SPEC §1) and per-class
# accuracies 94.7 / 97.8 / 98.9 % → 1228 / 1569 / 1270 correct (raw 4067 / 4185 = 97.18 %,
# macro 97.14 %). Rows true, columns predicted; the off-diagonal split is our choice (it
# changes neither accuracy).
FIGURE2 = np.array([[1228, 42, 27],
                    [25, 1569, 10],
                    [8, 6, 1270]])
P_CHOSEN, P_TRUE_IF_WRONG = 0.9, 0.04  # probability of the predicted / true (if wrong) class


def predictions_from_confusion(cm, p_chosen=P_CHOSEN, p_true_if_wrong=P_TRUE_IF_WRONG):
    y_true, probs = [], []
    for t in range(3):
        for p in range(3):
            for _ in range(cm[t, p]):
                row = np.full(3, (1 - p_chosen) / 2)
                if p != t:
                    row[:] = 1 - p_chosen - p_true_if_wrong
                    row[t] = p_true_if_wrong
                row[p] = p_chosen
                y_true.append(t)
                probs.append(row)
    return np.array(y_true), np.array(probs)
