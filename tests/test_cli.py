"""The command line: ``train`` on a few examples writes the model, the figure and an accuracy;
``demo`` in its fast mode; bad arguments give clear errors (exit status 2, no traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("minidl.keras")

from minidl import backend  # noqa: E402
from minidl.__main__ import load_dataset, main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _error(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, match",
    [
        (["train", "cnn", "--dataset", "sentiment"], "not applicable to the sentiment"),
        (["train", "rnn"], "invalid choice: 'rnn'"),
        (["train", "cnn", "--dataset", "cifar10"], "invalid choice: 'cifar10'"),
        (["train", "lstm", "--dataset", "digits", "--epochs", "0"], "must be positive"),
        (["train", "lstm", "--dataset", "digits", "--limit", "0"], "--limit must be a positive"),
        (["train", "lstm", "--epochs", "two"], "invalid int value"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_bad_arguments(capsys, argv, match):
    code, err = _error(capsys, argv)
    assert code == 2 and match in err and "Traceback" not in err


def test_cuda_without_gpu_is_a_clear_error(capsys):
    if backend.cupy_available():
        pytest.skip("a GPU is present")
    code, err = _error(capsys, ["train", "lstm", "--dataset", "digits", "--limit", "8", "--device", "cuda"])
    assert code == 2 and "CuPy" in err


def test_missing_data_is_a_clear_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("minidl.datasets.fashion_mnist._MIRRORS", ((tmp_path / "none").as_uri() + "/",))
    code, err = _error(capsys, ["train", "cnn", "--dataset", "fashion_mnist", "--limit", "8"])
    assert code == 1 and "put train-images-idx3-ubyte.gz in one of" in err and "Traceback" not in err


def test_corrupt_data_is_a_clear_error(capsys, tmp_path, monkeypatch):
    (tmp_path / "sentiment-labelled-sentences").mkdir()
    for name in ("amazon_cells", "imdb", "yelp"):
        (tmp_path / "sentiment-labelled-sentences" / f"{name}_labelled.txt").write_text("Good.\t1\n")
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path))
    code, err = _error(capsys, ["train", "lstm", "--dataset", "sentiment", "--limit", "8"])
    assert code == 1 and "SHA-256 is" in err and "Traceback" not in err


def test_load_dataset_shapes():
    (x, y), (xt, yt), classes = load_dataset("digits", "cnn", limit=20)
    assert x.shape == (20, 8, 8, 1) and x.dtype.name == "float32" and 0 <= x.min() and x.max() <= 1
    (x, _), _, _ = load_dataset("digits", "lstm")
    assert x.shape == (1438, 8, 8) and classes == 10


@pytest.mark.parametrize("model", ["cnn", "lstm", "transformer"])
def test_train_on_digits_writes_model_and_figure(capsys, tmp_path, model):
    out = tmp_path / model
    code = main(["train", model, "--dataset", "digits", "--limit", "64", "--epochs", "1", "--batch-size", "16",
                 "--out", str(out), "--verbose", "0"])
    text = capsys.readouterr().out
    assert code == 0 and "test accuracy: " in text
    accuracy = float(text.split("test accuracy: ")[1].split()[0])
    assert 0.0 <= accuracy <= 1.0
    for name in ("model.keras", "model.weights.npz", "curves.png"):
        assert (out / name).stat().st_size > 0
    assert json.loads((out / "model.json").read_text())["class_name"] == "Sequential"
    run = json.loads((out / "run.json").read_text())
    assert run["model"] == model and abs(run["test_accuracy"] - accuracy) < 1e-4 and len(run["history"]["loss"]) == 1
    # the saved model is the trained one: it scores the printed accuracy again
    (_, _), (xt, yt), _ = load_dataset("digits", model, limit=64)
    loaded = keras.models.load_model(out / "model.keras")
    _, again = loaded.evaluate(xt, yt, verbose=0)
    assert abs(again - accuracy) < 1e-4 and loaded.predict(xt, verbose=0).shape == (64, 10)
    weights = np.load(out / "model.weights.npz", allow_pickle=False)
    assert len([k for k in weights.files if k.startswith("w")]) == len(loaded.get_weights())


def test_train_sentiment(capsys, tmp_path, data_dir):
    code = main(["train", "lstm", "--dataset", "sentiment", "--limit", "48", "--epochs", "1", "--out",
                 str(tmp_path), "--verbose", "0"])
    assert code == 0 and "test accuracy: " in capsys.readouterr().out
    assert (tmp_path / "curves.png").is_file()


def test_demo_fast(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDL_FAST", "1")
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "no-data"))  # recurrent models fall back to digit rows
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
    assert main(["demo", "--figures", str(tmp_path / "figures")]) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and "rows of 8x8 digits" in text
    for name in ("cnn_digits", "lstm_digits", "transformer_digits", "cnn_digits_predictions"):
        assert (tmp_path / "figures" / f"demo_{name}.png").is_file()


def test_module_entry_point(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, "-m", "minidl", "train", "cnn", "--dataset", "digits", "--limit", "32", "--epochs", "1",
         "--out", str(tmp_path), "--verbose", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy: " in proc.stdout and (tmp_path / "curves.png").is_file()
