"""``minidl.nn.utils``: where PyTorch users look for gradient clipping."""

from ..optim.clip import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_"]
