"""dcase_lowcomplexity: DCASE2020 Task 1b low-complexity acoustic scene classification.

[R1] McDonnell, one-bit-per-weight deep CNNs; [R2] Lopez-Meyer et al., low-memory CNNs.
"""
__version__ = "0.1.0"
