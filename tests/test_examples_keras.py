"""Each Keras port in examples/keras runs as a user would run it, ``python NAME.py --small``, and
prints what the original program prints (the figures are checked only where they cannot fail
by chance: a finished run, its logged names, a probability row that sums to one)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "keras"
HAS_MNIST = bool(os.environ.get("MINIDL_DATA")) and (Path(os.environ.get("MINIDL_DATA", ".")) / "mnist").is_dir()
HAS_SENTENCES = bool(os.environ.get("MINIDL_DATA")) and \
    (Path(os.environ.get("MINIDL_DATA", ".")) / "sentiment-labelled-sentences").is_dir()

# name -> (needs, a pattern the output must contain)
CASES = {
    "beginner": (HAS_MNIST, r"test accuracy: 0\.\d+"),
    "advanced": (HAS_MNIST, r"Epoch 1, Loss: \d+\.\d\d, Accuracy: \d+\.\d\d, Test Loss"),
    "mnist_convnet": (HAS_MNIST, r"Test accuracy: [01]\.\d+"),
    "imdb_bidirectional_lstm": (HAS_SENTENCES, r"val_accuracy: [01]\.\d+"),
    "custom_train_step": (True, r"final loss: \d+\.\d+"),
    "multi_input_output": (True, r"logged: \['department_loss', 'loss', 'priority_loss'\]"),
}


def test_every_example_is_tested():
    assert sorted(p.stem for p in EXAMPLES.glob("*.py")) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_runs_small(name, tmp_path):
    available, pattern = CASES[name]
    if not available:
        pytest.skip("needs the datasets in MINIDL_DATA")
    env = dict(os.environ, MPLBACKEND="Agg", MINIDL_CACHE=str(tmp_path / "cache"))
    cmd = [sys.executable, str(EXAMPLES / f"{name}.py"), "--small"]
    if name == "multi_input_output":
        cmd += ["--plot", str(tmp_path / "model.png")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(pattern, done.stdout), done.stdout[-3000:]
    if name == "multi_input_output":
        assert (tmp_path / "model.png").stat().st_size > 0
    if name == "beginner":
        row = re.search(r"probabilities of 2 test digits: \[\[([^\]]+)\]", done.stdout).group(1)
        assert abs(sum(float(v) for v in row.split()) - 1.0) < 0.05
