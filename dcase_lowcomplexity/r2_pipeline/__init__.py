"""What the four [R2] experiment scripts share (experiments/task1b_{int8,lottery,distill,gccgram}.py).

- `profiles`: the four systems (submission labels, descriptions), the demo and paper
  profiles of each network, and the training hyperparameters [R2] does not give (ours).
  Import-light (no TensorFlow), so bad options are refused in a second.
- `inputs`: each system's input derived from the 48 kHz stereo clips (16 kHz waveforms,
  64-band log-mels, GCC-grams), cached once per dataset and parameters as a resumable .npy.
- `training`: endless seeded batch streams, SGDR, resumable phases (`fit_resumable`), the
  lottery-ticket phases with their masks and rewinding snapshot saved atomically, prediction.
- `runs`: the steps every script runs around its own training (inputs of the split,
  batch streams, per-epoch validation, FP32 scoring, `ship`: export → score the file → sizes
  → summary.json → submission).
- `report`: TFLite export, scoring of the shipped file, DCASE size beside the file size,
  `summary.json`, DCASE submission files.
- `compare`: the analogue of [R2] Tables 1–3 for the five systems (the [R1] run included).
"""
