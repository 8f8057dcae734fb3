"""captum as an oracle: the same weights in a torch model give the same attributions."""

import numpy as np
import pytest

import minidl
from minidl import explain, nn

torch = pytest.importorskip("torch")
captum_attr = pytest.importorskip("captum.attr")


def _pair_mlp():
    minidl.manual_seed(0)
    ours = nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 4)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 10), torch.nn.Tanh(), torch.nn.Linear(10, 4)).double()
    theirs.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy()) for k, v in ours.state_dict().items()})
    return ours, theirs


def _pair_cnn():
    minidl.manual_seed(1)
    ours = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 3)).double()
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.ReLU(), torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
                                 torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 3)).double()
    theirs.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy()) for k, v in ours.state_dict().items()})
    return ours, theirs


def _x(shape, seed):
    return np.random.default_rng(seed).normal(size=shape)


def test_saliency_matches_captum():
    ours, theirs = _pair_mlp()
    x, target = _x((5, 6), 0), [0, 3, 1, 2, 3]
    expect = captum_attr.Saliency(theirs).attribute(torch.from_numpy(x), target=target, abs=False)
    np.testing.assert_allclose(explain.saliency(ours, x, target).numpy(), expect.numpy(), rtol=1e-10, atol=1e-14)
    expect = captum_attr.Saliency(theirs).attribute(torch.from_numpy(x), target=2)  # captum's default: abs
    np.testing.assert_allclose(explain.saliency(ours, x, 2, abs=True).numpy(), expect.numpy(), rtol=1e-10)


@pytest.mark.parametrize("steps", [7, 50])
def test_integrated_gradients_matches_captum(steps):
    ours, theirs = _pair_mlp()
    x, base, target = _x((4, 6), 1), _x((4, 6), 2), [1, 0, 3, 2]
    ig = captum_attr.IntegratedGradients(theirs)
    expect, delta = ig.attribute(torch.from_numpy(x), baselines=torch.from_numpy(base), target=target, n_steps=steps,
                                 method="gausslegendre", return_convergence_delta=True)
    got, err = explain.integrated_gradients(ours, x, target, baseline=base, steps=steps)
    np.testing.assert_allclose(got.numpy(), expect.numpy(), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(err.numpy(), delta.numpy(), rtol=1e-5, atol=1e-8)
    # captum's trapezoid weights are 1/steps (sum (steps−1)/steps); ours 1/(steps−1) (sum 1)
    expect = ig.attribute(torch.from_numpy(x), baselines=torch.from_numpy(base), target=target, n_steps=steps,
                          method="riemann_trapezoid")
    got, _ = explain.integrated_gradients(ours, x, target, baseline=base, steps=steps, method="riemann_trapezoid")
    np.testing.assert_allclose(got.numpy() * (steps - 1) / steps, expect.numpy(), rtol=1e-7, atol=1e-9)


def test_smoothgrad_matches_captum_saliency_on_the_same_noise():
    ours, theirs = _pair_mlp()
    x, target = _x((3, 6), 3), [2, 2, 0]
    noise = np.random.default_rng(4).normal(0, 0.2, size=(6, 3, 6))
    sal = captum_attr.Saliency(theirs)
    expect = np.mean([sal.attribute(torch.from_numpy(x + e), target=target, abs=False).numpy() for e in noise], axis=0)
    np.testing.assert_allclose(explain.smoothgrad(ours, x, target, noise=noise).numpy(), expect, rtol=1e-10)


def test_smoothgrad_of_a_linear_model_matches_captum_noise_tunnel():
    # the gradient of a linear model does not depend on the noise, so both draw their own
    minidl.manual_seed(2)
    ours = nn.Linear(6, 3).double()
    theirs = torch.nn.Linear(6, 3).double()
    theirs.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy()) for k, v in ours.state_dict().items()})
    x = _x((2, 6), 5)
    tunnel = captum_attr.NoiseTunnel(captum_attr.Saliency(theirs))
    expect = tunnel.attribute(torch.from_numpy(x), nt_type="smoothgrad", nt_samples=5, stdevs=0.3, target=1, abs=False)
    got = explain.smoothgrad(ours, x, 1, samples=5, sigma=0.3, seed=0)
    np.testing.assert_allclose(got.numpy(), expect.numpy(), rtol=1e-10)


def test_grad_cam_matches_captum():
    ours, theirs = _pair_cnn()
    x, target = _x((3, 1, 8, 8), 6), [0, 2, 1]
    cam = captum_attr.LayerGradCam(theirs, theirs[2]).attribute(torch.from_numpy(x), target=target,
                                                                relu_attributions=True)
    got = explain.grad_cam(ours, x, target, ours[2])
    np.testing.assert_allclose(got.numpy(), cam.detach().numpy()[:, 0], rtol=1e-7, atol=1e-9)
