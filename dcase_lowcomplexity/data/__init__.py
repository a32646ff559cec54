"""Dataset layout and folds, feature extraction, HDF5 store, generators (SPEC §1–2, §4)."""
