import functools

import numpy as np
import pytest

import minidl
from minidl import attacks, nn, optim
from minidl import functional as F


def _blobs(n=200, d=10, seed=0):
    """Two classes in [0, 1]^d, apart along every axis."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    x = np.clip(0.5 + (y[:, None] - 0.5) * 0.3 + rng.normal(0, 0.12, size=(n, d)), 0, 1)
    return x.astype(np.float32), y.astype(np.int64)


def _fragile(n, seed):
    """Two classes: 5 weak features that survive an L∞ attack of 0.1, and 5 that separate the
    classes perfectly but by only 0.04: a model trained on clean data leans on the fragile ones."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    s = y[:, None] - 0.5
    robust = 0.5 + s * 0.4 + rng.normal(0, 0.2, size=(n, 5))
    fragile = 0.5 + s * 0.04 + rng.normal(0, 0.005, size=(n, 5))
    return np.clip(np.concatenate([robust, fragile], 1), 0, 1).astype(np.float32), y.astype(np.int64)


@functools.lru_cache(maxsize=1)
def _trained():
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    x, y = _blobs()
    for _ in range(60):
        opt.zero_grad()
        loss = F.cross_entropy(model(minidl.tensor(x)), minidl.tensor(y))
        loss.backward()
        opt.step()
    return model


def _loss(model, x, y):
    with minidl.no_grad():
        return float(F.cross_entropy(model(minidl.tensor(np.asarray(x))), minidl.tensor(y)).item())


def _accuracy(model, x, y):
    with minidl.no_grad():
        return float((model(minidl.tensor(np.asarray(x))).numpy().argmax(1) == y).mean())


def test_fgsm_matches_a_hand_written_torch_fgsm():
    torch = pytest.importorskip("torch")
    model = _trained()
    tmodel = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    tmodel.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy()) for k, v in model.state_dict().items()})
    x, y = _blobs(50, seed=1)
    xt = torch.from_numpy(x).requires_grad_(True)
    torch.nn.functional.cross_entropy(tmodel(xt), torch.from_numpy(y)).backward()
    expect = (xt + 0.1 * xt.grad.sign()).clamp(0, 1).detach().numpy()
    got = attacks.fgsm(model, x, y, eps=0.1).numpy()
    # a gradient element within rounding of 0 may take either sign: allow a handful
    assert np.mean(np.isclose(got, expect, atol=1e-6)) > 0.99


def test_fgsm_stays_in_the_ball_and_the_range_and_raises_the_loss():
    model = _trained()
    x, y = _blobs(100, seed=2)
    for eps in (0.05, 0.2):
        adv = attacks.fgsm(model, x, y, eps=eps).numpy()
        assert np.abs(adv - x).max() <= eps + 1e-6 and adv.min() >= 0 and adv.max() <= 1
        assert _loss(model, adv, y) > _loss(model, x, y)
    np.testing.assert_array_equal(attacks.fgsm(model, x, y, eps=0.0).numpy(), x)
    free = attacks.fgsm(model, x, y, eps=0.9, clamp=None).numpy()
    assert free.max() > 1 or free.min() < 0  # clamp=None leaves the range open


@pytest.mark.parametrize("eps", [0.1, 0.25])
def test_pgd_is_at_least_as_strong_as_fgsm(eps):
    model = _trained()
    x, y = _blobs(100, seed=3)
    l_fgsm = _loss(model, attacks.fgsm(model, x, y, eps), y)
    adv = attacks.pgd(model, x, y, eps, alpha=eps / 4, steps=20, seed=0)
    assert _loss(model, adv, y) >= l_fgsm
    assert _accuracy(model, adv, y) <= _accuracy(model, attacks.fgsm(model, x, y, eps), y)


def test_pgd_linf_projection_and_range():
    model = _trained()
    x, y = _blobs(60, seed=4)
    adv = attacks.pgd(model, x, y, eps=0.15, alpha=0.1, steps=7, seed=1).numpy()
    assert np.abs(adv - x).max() <= 0.15 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    # without a random start, one step of size eps is FGSM
    np.testing.assert_array_equal(attacks.pgd(model, x, y, 0.15, 0.15, 1, random_start=False).numpy(),
                                  attacks.fgsm(model, x, y, 0.15).numpy())
    a = attacks.pgd(model, x, y, 0.15, 0.05, 3, seed=5).numpy()
    np.testing.assert_array_equal(a, attacks.pgd(model, x, y, 0.15, 0.05, 3, seed=5).numpy())


def test_pgd_l2_projection():
    model = _trained()
    x, y = _blobs(60, seed=5)
    adv = attacks.pgd(model, x, y, eps=0.5, alpha=0.3, steps=6, norm="2", seed=0, clamp=None).numpy()
    norms = np.linalg.norm((adv - x).reshape(len(x), -1), axis=1)
    assert norms.max() <= 0.5 * (1 + 1e-5)
    assert norms.min() > 0.45  # the loss keeps growing outward: the steps end on the sphere
    # one step from x with alpha <= eps moves by exactly alpha along the normalised gradient
    one = attacks.pgd(model, x, y, eps=0.5, alpha=0.2, steps=1, norm="2", random_start=False, clamp=None).numpy()
    g, _ = attacks.loss_gradient(model, x, y)
    expect = x + 0.2 * g / np.linalg.norm(g, axis=1, keepdims=True)
    np.testing.assert_allclose(one, expect, rtol=1e-5, atol=1e-6)
    # a long step is shrunk back onto the sphere of radius eps
    far = attacks.pgd(model, x, y, eps=0.5, alpha=3.0, steps=1, norm="2", random_start=False, clamp=None).numpy()
    np.testing.assert_allclose(np.linalg.norm(far - x, axis=1), 0.5, rtol=1e-5)
    start = attacks.pgd(model, x, y, eps=0.5, alpha=1e-9, steps=1, norm="2", seed=2, clamp=None).numpy()
    assert np.linalg.norm(start - x, axis=1).max() <= 0.5 * (1 + 1e-5)


def test_adversarial_training_step_makes_the_model_robust():
    x, y = _fragile(200, seed=6)
    attack = functools.partial(attacks.pgd, eps=0.1, alpha=0.025, steps=5, seed=0)

    def train(adversarial):
        minidl.manual_seed(1)
        model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 2))
        opt = optim.Adam(model.parameters(), lr=0.01)
        for _ in range(80):
            if adversarial:
                attacks.adversarial_training_step(model, opt, x, y, attack)
            else:
                opt.zero_grad()
                F.cross_entropy(model(minidl.tensor(x)), minidl.tensor(y)).backward()
                opt.step()
        return model

    xt, yt = _fragile(200, seed=7)
    plain, robust = train(False), train(True)
    acc_plain = _accuracy(plain, attack(plain, xt, yt), yt)
    acc_robust = _accuracy(robust, attack(robust, xt, yt), yt)
    assert acc_robust > acc_plain + 0.08  # about 0.9 against 0.73 over seeds
    assert robust.training  # the step leaves the mode as it was


def test_keras_adversarial_model_trains_the_wrapped_weights():
    from minidl import keras

    x, y = _fragile(200, seed=8)
    attack = functools.partial(attacks.pgd, eps=0.1, alpha=0.025, steps=5, seed=0)

    def build():
        minidl.manual_seed(2)
        return keras.Sequential([keras.Input((10,)), keras.layers.Dense(16, activation="relu"),
                                 keras.layers.Dense(2, activation="softmax")])

    plain, inner = build(), build()
    plain.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    plain.fit(x, y, epochs=20, batch_size=50, verbose=0)
    robust = attacks.AdversarialModel(inner, attack)
    robust.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    before = [w.copy() for w in inner.get_weights()]
    robust.fit(x, y, epochs=20, batch_size=50, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, inner.get_weights()))
    xt, yt = _fragile(200, seed=9)
    acc = [float((m.predict(np.asarray(attack(m, xt, yt)), verbose=0).argmax(1) == yt).mean()) for m in (plain, inner)]
    assert acc[1] > acc[0] + 0.08, acc
    np.testing.assert_allclose(robust.predict(xt, verbose=0), inner.predict(xt, verbose=0))


def test_bad_arguments_name_the_attack():
    model = _trained()
    x, y = _blobs(4)
    with pytest.raises(ValueError, match="fgsm: eps must be"):
        attacks.fgsm(model, x, y, eps=-0.1)
    with pytest.raises(ValueError, match="fgsm: clamp must be"):
        attacks.fgsm(model, x, y, eps=0.1, clamp=(1, 0))
    with pytest.raises(ValueError, match="fgsm: y must hold 4 class indices"):
        attacks.fgsm(model, x, y[:3], eps=0.1)
    with pytest.raises(ValueError, match="pgd: norm must be"):
        attacks.pgd(model, x, y, 0.1, 0.01, 3, norm="1")
    with pytest.raises(ValueError, match="pgd: steps"):
        attacks.pgd(model, x, y, 0.1, 0.01, 0)
    with pytest.raises(ValueError, match="pgd: alpha"):
        attacks.pgd(model, x, y, 0.1, 0.0, 3)
    with pytest.raises(TypeError, match="attack must be a callable"):
        attacks.adversarial_training_step(model, None, x, y, attack=None)
    with pytest.raises(TypeError, match="AdversarialModel: model must be a minidl.keras model"):
        attacks.AdversarialModel(model, attacks.fgsm)
