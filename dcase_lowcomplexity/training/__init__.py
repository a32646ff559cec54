"""SGDR schedule, callbacks, resumable runs, distillation and pruning."""
