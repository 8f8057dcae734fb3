"""Each program of examples/pytorch/ runs with ``--small`` (a few seconds) and says what it did.

They run as a user runs them, in a fresh interpreter (``python examples/pytorch/NAME.py --small``),
from a temporary folder, so that nothing is written into the work tree. The ones that read a
dataset (MNIST, Tiny Shakespeare) look in ``$MINIDL_DATA`` and are skipped where it lacks it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "pytorch"

# program -> (dataset file it reads under $MINIDL_DATA, or None; text its output must hold)
PROGRAMS = {
    "mnist.py": ("mnist/train-images-idx3-ubyte.gz", "Test set: Average loss"),
    "quickstart.py": ("mnist/train-images-idx3-ubyte.gz", "Done!"),
    "polynomial.py": (None, "Result: y ="),
    "cifar10_classifier.py": (None, "Accuracy of the network on the 200 test images"),
    "word_language_model.py": ("tinyshakespeare/input.txt", "End of training"),
    "nanogpt_char.py": ("tinyshakespeare/input.txt", "step 30: train loss"),
    "time_sequence_prediction.py": (None, "test loss:"),
}


def test_every_program_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(PROGRAMS)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_runs_small(name, tmp_path):
    needs, expected = PROGRAMS[name]
    data = os.environ.get("MINIDL_DATA", "")
    if needs and not (data and (Path(data) / needs).is_file()):
        pytest.skip(f"{name} reads {needs} from $MINIDL_DATA")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(EXAMPLES.parents[1]))
    done = subprocess.run([sys.executable, str(EXAMPLES / name), "--small"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    assert expected in done.stdout, done.stdout[-2000:]
    assert list(tmp_path.iterdir()) == []  # the programs write their files into temporary folders
