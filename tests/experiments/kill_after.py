"""Runs an experiments/ script in this process and kills the process with SIGKILL right after
its K-th epoch checkpoint is written (counted over all training phases): a kill -9 in the
middle of a run at a point fixed in advance, which no machine can outrun.

    python tests/experiments/kill_after.py K experiments/task1b_lottery.py ARGS...
"""
import os
import runpy
import signal
import sys

from dcase_lowcomplexity.training import run as training_run


def main() -> None:
    k, script, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    original = training_run.RunRecorder.on_epoch_end
    written = []

    def on_epoch_end(self, epoch, logs=None):
        original(self, epoch, logs)  # checkpoint and log of this epoch, written atomically
        written.append(epoch)
        if len(written) == k:
            os.kill(os.getpid(), signal.SIGKILL)

    training_run.RunRecorder.on_epoch_end = on_epoch_end
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
