"""Knowledge distillation with minidl.keras, as in the Keras example "Knowledge Distillation":
a ``Distiller`` model wraps a trained teacher and a student, ``compile`` takes the two losses and
their weighting, and ``fit`` trains the student only:

    loss = α · student_loss(y, s) + (1 − α) · T² · distillation_loss(softmax(t / T), softmax(s / T))

(the Keras example's convention: here α weights the *label* loss, the opposite of
``minidl.compress.distill.distillation_loss``'s α; with distillation_loss = KLDivergence and
student_loss = sparse cross-entropy from logits, the two agree for α_keras = 1 − α_hinton).
Both models output logits (no final softmax). ``evaluate`` and ``predict`` use the student.
Notebook: notebooks/10_compression.ipynb, section 4.
"""

from __future__ import annotations

import numbers

from .. import functional as F
from ..autograd import no_grad
from ..keras import losses as keras_losses
from ..keras.training import Model

_EPSILON = 1e-7  # Keras's backend epsilon, the floor of both distributions in KLDivergence


class KLDivergence(keras_losses.Loss):
    """Keras's ``KLDivergence``: per sample Σ_c y_true · log(y_true / y_pred), both clipped to
    [1e-7, 1] first; ``loss(y_true, y_pred)`` is the batch mean. y_true, y_pred: (N, C)
    probabilities. Gradient (autograd's): d/dy_pred = −y_true / y_pred inside the clip range."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence"):
        super().__init__(reduction=reduction, name=name)

    def call(self, y_true, y_pred, logits=None, kind=None):
        if tuple(y_true.shape) != tuple(y_pred.shape):
            raise ValueError(f"{self.name}: y_true of shape {tuple(y_true.shape)} and y_pred of shape "
                             f"{tuple(y_pred.shape)} should be the same")
        t = F.clamp(y_true, _EPSILON, 1.0)
        p = F.clamp(y_pred, _EPSILON, 1.0)
        return F.sum(t * F.log(t / p), dim=-1)  # (N,)


class Distiller(Model):
    """``Distiller(student, teacher)``: ``compile(optimizer, metrics, student_loss_fn,
    distillation_loss_fn, alpha=0.1, temperature=3)``, then ``fit(x, y)`` trains the student
    against the labels and the teacher's softened predictions (see the module docstring). As in
    the Keras 3 example, the step is Keras's own and ``compute_loss`` is what changes; the teacher
    runs without gradients and the optimizer holds only the student's weights."""

    def __init__(self, student, teacher, name="distiller"):
        super().__init__(name=name)
        self.student = student
        self.teacher = teacher

    def compile(self, optimizer="adam", metrics=None, student_loss_fn=None, distillation_loss_fn=None, alpha=0.1,
                temperature=3, **kwargs):
        """``student_loss_fn``: the loss of the student's logits against the labels (e.g.
        ``SparseCategoricalCrossentropy(from_logits=True)``); ``distillation_loss_fn``: the loss
        between the teacher's and the student's softened distributions (default ``KLDivergence()``)."""
        if student_loss_fn is None:
            raise ValueError("Distiller.compile: student_loss_fn is required, e.g. "
                             "keras.losses.SparseCategoricalCrossentropy(from_logits=True)")
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"Distiller.compile: alpha={alpha!r} should be a number in [0, 1]")
        if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not temperature > 0:
            raise ValueError(f"Distiller.compile: temperature={temperature!r} should be a positive number")
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)
        self.student_loss_fn = keras_losses.get(student_loss_fn)
        self.distillation_loss_fn = keras_losses.get(distillation_loss_fn or KLDivergence())
        self.alpha, self.temperature = float(alpha), float(temperature)

    def call(self, inputs, training=None, mask=None):
        return self.student(inputs, training=training)

    def _trainable_parameters(self):
        return list(self.student.parameters())  # the teacher stays as it is

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """α · student_loss(y, s) + (1 − α) · T² · distillation_loss(softmax(t/T), softmax(s/T)),
        with s = y_pred (the student's logits) and t = teacher(x)."""
        with no_grad():
            teacher_logits = self.teacher(x, training=False)
        T = self.temperature
        student_loss = self.student_loss_fn(y, y_pred, sample_weight)
        soft = self.distillation_loss_fn(F.softmax(teacher_logits / T, -1), F.softmax(y_pred / T, -1))
        loss = student_loss * self.alpha + soft * ((1 - self.alpha) * T * T)
        for term in self.student.losses:
            loss = loss + term
        return loss
