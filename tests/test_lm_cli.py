"""``python -m minidl train gpt`` and ``python -m minidl generate`` on a slice of Tiny Shakespeare."""

from __future__ import annotations

import json

import pytest

from minidl.__main__ import main


@pytest.mark.parametrize("tokenizer", ["char", "bpe"])
def test_train_then_generate(data_dir, tmp_path, capsys, monkeypatch, tokenizer):
    monkeypatch.setenv("MINIDL_DATA", str(data_dir))
    out = tmp_path / "run"
    args = ["train", "gpt", "--steps", "12", "--limit", "8000", "--block-size", "16", "--n-layer", "1",
            "--n-embd", "16", "--n-head", "2", "--batch-size", "8", "--eval-every", "6", "--tokenizer", tokenizer,
            "--vocab-size", "300", "--out", str(out), "--verbose", "0"]
    assert main(args) == 0
    assert {p.name for p in out.iterdir()} == {"model.weights.npz", "config.json", "tokenizer.json", "history.json"}
    history = json.loads((out / "history.json").read_text())
    assert history["step"] == [6, 12] and len(history["val_loss"]) == 2
    assert "validation loss" in capsys.readouterr().out
    assert main(["generate", "--checkpoint", str(out), "--prompt", "ROMEO:", "--max-new-tokens", "10"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("ROMEO:") and "tokens/s, with the key/value cache" in text


def test_bad_arguments(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "cnn", "--dataset", "tinyshakespeare"])
    assert info.value.code == 2 and "a text corpus for the gpt" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["train", "gpt", "--steps", "0"])
    assert info.value.code == 2 and "--steps must be positive" in capsys.readouterr().err
