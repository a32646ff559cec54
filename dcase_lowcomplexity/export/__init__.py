"""Packed one-bit files, DCASE size accounting, TFLite FP16/INT8 conversion."""
