"""minidl.optim: optimizers, learning-rate schedulers and gradient clipping (PyTorch's names).

opt = minidl.optim.Adam(model.parameters(), lr=1e-3)
sched = minidl.optim.lr_scheduler.StepLR(opt, step_size=10)
for x, y in loader:
    opt.zero_grad()
    loss_fn(model(x), y).backward()
    minidl.optim.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
sched.step()
"""

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adam_variants import Adamax, NAdam, RAdam
from .asgd import ASGD
from .clip import clip_grad_norm_, clip_grad_value_
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD

__all__ = [
    "ASGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "LBFGS",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "Rprop",
    "SGD",
    "clip_grad_norm_",
    "clip_grad_value_",
    "lr_scheduler",
]
