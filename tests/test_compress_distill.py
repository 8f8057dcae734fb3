"""minidl.compress.distill: Hinton's loss (first and second derivatives, PyTorch as the oracle, the
gradient of the docstring), the nn training helper, and the Keras Distiller."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import nn
from minidl.compress.distill import distill, distillation_loss
from minidl.testing import assert_gradients_match


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 4), c=st.integers(2, 5), T=st.floats(0.5, 8.0),
       alpha=st.floats(0.0, 1.0))
def test_gradients_and_second_derivatives(seed, n, c, T, alpha):
    rng = np.random.default_rng(seed)
    s = minidl.tensor(rng.standard_normal((n, c)) * 2, requires_grad=True)
    t = minidl.tensor(rng.standard_normal((n, c)) * 2)
    y = minidl.tensor(rng.integers(0, c, n))
    assert_gradients_match(lambda s: distillation_loss(s, t, y, T, alpha), s)


def test_gradient_is_the_formula_and_the_teacher_gets_none():
    rng = np.random.default_rng(1)
    N, C, T, alpha = 5, 4, 3.0, 0.7
    s = minidl.tensor(rng.standard_normal((N, C)), requires_grad=True)
    t = minidl.tensor(rng.standard_normal((N, C)), requires_grad=True)
    y = rng.integers(0, C, N)
    distillation_loss(s, t, minidl.tensor(y), T, alpha).backward()

    def softmax(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    sv, tv = s.detach().numpy(), t.detach().numpy()
    want = alpha * T * (softmax(sv / T) - softmax(tv / T)) / N + (1 - alpha) * (softmax(sv) - np.eye(C)[y]) / N
    np.testing.assert_allclose(s.grad.numpy(), want, rtol=1e-5, atol=1e-7)
    assert t.grad is None


def test_matches_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(2)
    s, t, y = rng.standard_normal((6, 5)), rng.standard_normal((6, 5)) * 3, rng.integers(0, 5, 6)
    T, alpha = 4.0, 0.9
    ours_s = minidl.tensor(s, requires_grad=True)
    ours = distillation_loss(ours_s, minidl.tensor(t), minidl.tensor(y), T, alpha)
    ours.backward()
    ts = torch.tensor(s, requires_grad=True)
    soft = tf.kl_div(tf.log_softmax(ts / T, 1), tf.log_softmax(torch.tensor(t) / T, 1), reduction="batchmean",
                     log_target=True)
    theirs = alpha * T * T * soft + (1 - alpha) * tf.cross_entropy(ts, torch.tensor(y))
    theirs.backward()
    assert float(ours.detach().numpy()) == pytest.approx(float(theirs.detach()), rel=1e-12)
    np.testing.assert_allclose(ours_s.grad.numpy(), ts.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_bad_arguments_raise_clear_errors():
    s, t, y = minidl.zeros(3, 4), minidl.zeros(3, 4), minidl.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="T=0 should be a positive number"):
        distillation_loss(s, t, y, T=0)
    with pytest.raises(ValueError, match=r"alpha=1.5 should be a number in \[0, 1\]"):
        distillation_loss(s, t, y, alpha=1.5)
    with pytest.raises(ValueError, match=r"student logits \(3, 4\) and teacher logits \(3, 5\)"):
        distillation_loss(s, minidl.zeros(3, 5), y)
    with pytest.raises(ValueError, match=r"targets of shape \(2,\) do not fit"):
        distillation_loss(s, t, minidl.tensor([0, 1]))
    with pytest.raises(ValueError, match="targets are needed unless alpha == 1"):
        distillation_loss(s, t, None, alpha=0.5)
    assert float(distillation_loss(s, t, None, alpha=1.0).numpy()) == pytest.approx(0.0, abs=1e-7)


def _blobs(rng, n=120):
    centres = rng.standard_normal((3, 6)) * 2.5
    y = rng.integers(0, 3, n)
    return (centres[y] + rng.standard_normal((n, 6))).astype(np.float32), y


def test_distill_trains_the_student_and_leaves_the_teacher():
    rng = np.random.default_rng(3)
    minidl.manual_seed(3)
    x, y = _blobs(rng)
    teacher = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 3))
    opt = minidl.optim.Adam(teacher.parameters(), lr=0.02)
    for _ in range(60):
        opt.zero_grad()
        minidl.functional.cross_entropy(teacher(minidl.tensor(x)), minidl.tensor(y)).backward()
        opt.step()
    before = {k: v.numpy().copy() for k, v in teacher.state_dict().items()}
    student = nn.Linear(6, 3)
    loader = minidl.data.DataLoader(minidl.data.TensorDataset(minidl.tensor(x), minidl.tensor(y)), batch_size=30)
    seen = []
    history = distill(student, teacher, loader, minidl.optim.Adam(student.parameters(), lr=0.05), epochs=8,
                      T=2.0, alpha=0.5, callback=lambda e, loss: seen.append(e))
    assert seen == list(range(8)) and history[-1] < history[0] / 2
    for k, v in teacher.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    with minidl.no_grad():
        acc = (student(minidl.tensor(x)).numpy().argmax(1) == y).mean()
    assert acc > 0.9


def test_keras_distiller_trains_the_student_with_the_combined_loss():
    from minidl import keras
    from minidl.compress.keras_distiller import Distiller, KLDivergence

    rng = np.random.default_rng(4)
    minidl.manual_seed(4)
    x, y = _blobs(rng, 96)
    L = keras.layers
    teacher = keras.Sequential([L.Dense(32, activation="relu", input_shape=(6,)), L.Dense(3)])
    teacher.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(x, y, epochs=10, batch_size=16, verbose=0)
    kept = [np.array(w, copy=True) for w in teacher.get_weights()]
    student = keras.Sequential([L.Dense(3, input_shape=(6,))])
    d = Distiller(student=student, teacher=teacher)
    d.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05), metrics=["sparse_categorical_accuracy"],
              student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              distillation_loss_fn=KLDivergence(), alpha=0.1, temperature=3)
    history = d.fit(x, y, epochs=6, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    logs = d.evaluate(x, y, verbose=0, return_dict=True)
    teacher_acc = (np.asarray(teacher.predict(x, verbose=0)).argmax(1) == y).mean()
    assert logs["sparse_categorical_accuracy"] > 0.8 and teacher_acc > 0.8, (logs, teacher_acc)  # chance: 1/3
    # one step's loss is α·CE + (1 − α)·T²·KL(softmax(t/T) ‖ softmax(s/T))
    xb, yb = minidl.tensor(x[:16]), minidl.tensor(y[:16])
    with minidl.no_grad():
        t, s = teacher(xb, training=False).numpy(), student(xb, training=False).numpy()
    pt, ps = np.exp(t / 3) / np.exp(t / 3).sum(1, keepdims=True), np.exp(s / 3) / np.exp(s / 3).sum(1, keepdims=True)
    ce = -np.log(np.exp(s)[np.arange(16), y[:16]] / np.exp(s).sum(1)).mean()
    want = 0.1 * ce + 0.9 * 9 * (pt * np.log(pt / ps)).sum(1).mean()
    loss = d.compute_loss(x=xb, y=yb, y_pred=student(xb, training=False))
    assert float(loss.detach().numpy()) == pytest.approx(want, rel=1e-4)
    logs = d.train_step((xb, yb))
    assert set(logs) >= {"loss", "sparse_categorical_accuracy"}
    for a, b in zip(teacher.get_weights(), kept):
        np.testing.assert_array_equal(np.asarray(a), b)
    with pytest.raises(ValueError, match="student_loss_fn is required"):
        Distiller(student, teacher).compile(optimizer="adam")


def test_keras_kl_divergence_is_keras_formula():
    from minidl.compress.keras_distiller import KLDivergence

    rng = np.random.default_rng(5)
    p, q = rng.dirichlet(np.ones(4), 3), rng.dirichlet(np.ones(4), 3)
    p[0, 0] = 0.0  # clipped to 1e-7, as in Keras
    got = float(KLDivergence()(minidl.tensor(p), minidl.tensor(q)).numpy())
    pc, qc = np.clip(p, 1e-7, 1), np.clip(q, 1e-7, 1)
    assert got == pytest.approx(float((pc * np.log(pc / qc)).sum(1).mean()), rel=1e-5)  # float32, as Keras


def test_minidl_compress_does_not_import_keras():
    import subprocess
    import sys

    code = "import sys, minidl.compress; assert 'minidl.keras' not in sys.modules, 'keras imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
