"""Training smoke tests that learn something real, quickly: minidl.nn + minidl.optim +
minidl.data end to end."""

from __future__ import annotations

import numpy as np

import minidl
from minidl import functional as F
from minidl import nn, optim
from minidl.data import DataLoader, TensorDataset
from minidl.datasets import mnist


def test_small_cnn_learns_mnist_slice(data_dir):
    """A small CNN on 2,000 MNIST digits beats 90% on 1,000 unseen ones within 250 steps."""
    minidl.manual_seed(0)
    (x, y), (xt, yt) = mnist.load_data(root=data_dir, download=False)
    x = (x[:2000, None] / 255.0).astype(np.float32)  # (N, 1, 28, 28)
    xt = (xt[:1000, None] / 255.0).astype(np.float32)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 10),
    )
    opt = optim.Adam(model.parameters(), lr=3e-3)
    loader = DataLoader(TensorDataset(x, y[:2000].astype(np.int64)), batch_size=32, shuffle=True, seed=0)
    steps = 0
    while steps < 250:
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            steps += 1
            if steps == 250:
                break
    model.eval()
    with minidl.no_grad():
        pred = model(minidl.tensor(xt)).argmax(dim=1).numpy()
    accuracy = (pred == yt[:1000]).mean()
    assert accuracy > 0.90, accuracy


def test_lstm_learns_to_remember_the_first_token():
    """An LSTM must carry the first token over 7 steps of noise to classify it."""
    minidl.manual_seed(0)
    rng = np.random.default_rng(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(8, 8)
            self.lstm = nn.LSTM(8, 24, batch_first=True)
            self.out = nn.Linear(24, 4)

        def forward(self, tokens):
            _, (h, _) = self.lstm(self.emb(tokens))
            return self.out(h[-1])

    def batch(n):
        tokens = rng.integers(4, 8, (n, 8))
        labels = rng.integers(0, 4, n)
        tokens[:, 0] = labels
        return minidl.tensor(tokens), minidl.tensor(labels)

    net = Net()
    opt = optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(200):
        xb, yb = batch(32)
        opt.zero_grad()
        F.cross_entropy(net(xb), yb).backward()
        opt.step()
    xb, yb = batch(200)
    with minidl.no_grad():
        accuracy = (net(xb).argmax(dim=1).numpy() == yb.numpy()).mean()
    assert accuracy > 0.95, accuracy


def test_transformer_layer_learns_to_count_a_token():
    """One encoder layer + mean pooling learns how many times token 1 occurs (0..3)."""
    minidl.manual_seed(0)
    rng = np.random.default_rng(1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5, 32)
            self.enc = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, dropout=0.0, batch_first=True)
            self.out = nn.Linear(32, 4)

        def forward(self, tokens):
            return self.out(self.enc(self.emb(tokens)).mean(dim=1))

    def batch(n):
        labels = rng.integers(0, 4, n)
        tokens = rng.integers(2, 5, (n, 8))
        for i, k in enumerate(labels):
            tokens[i, rng.choice(8, k, replace=False)] = 1
        return minidl.tensor(tokens), minidl.tensor(labels)

    net = Net()
    opt = optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(200):
        xb, yb = batch(32)
        opt.zero_grad()
        F.cross_entropy(net(xb), yb).backward()
        opt.step()
    xb, yb = batch(300)
    with minidl.no_grad():
        accuracy = (net(xb).argmax(dim=1).numpy() == yb.numpy()).mean()
    assert accuracy > 0.9, accuracy
