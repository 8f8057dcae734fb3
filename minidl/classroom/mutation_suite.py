"""The mutation suite of the assignments in notebooks/assignments (see ``minidl.classroom.mutations``).

Each entry: notebook, name, kind, cell id, the solution text and its wrong replacement, and the
hints that are right for it. "other" is the honest answer for a mistake no hint describes; a
plain ``assert`` of the key catching it is "assert".
"""

from .mutations import Mutation

A1, A2, A3, A4 = ("01_softmax_backward.ipynb", "02_conv2d_unfold.ipynb", "03_lstm_cell.ipynb",
                  "04_causal_attention.ipynb")
A5, A6, A7, A8 = ("05_value_autograd.ipynb", "06_broadcasting_backward.ipynb", "07_conv2d_backward.ipynb",
                  "08_attention_backward.ipynb")
SIGN, SCALE, BIAS = "sign error", "missing or wrong scale", "forgotten bias"
OVERFLOW = "softmax without max-subtraction"
SQUARE, TRANSPOSE, OFF_BY_ONE, AXIS = "broadcasting only on square shapes", "transpose", "off-by-one", "wrong axis"
GATES, MASK, TERM, DETACHED = "gates in the wrong order", "mask wrong or after softmax", "missing term", "detached"
ACCUMULATE, ORDER = "gradient overwritten, not accumulated", "backward in the wrong order"

_M = Mutation
SUITE = [
    # assignment 1: softmax, log-softmax and cross-entropy backward
    _M(A1, "softmax_sign", SIGN, "softmax-task", "return y * (dy - dot)", "return -y * (dy - dot)", ("sign",)),
    _M(A1, "softmax_no_max", OVERFLOW, "softmax-task", "ctx.xp.exp(x - x.max(axis=-1, keepdims=True))",
       "ctx.xp.exp(x)", ("overflow",)),
    _M(A1, "softmax_dot_no_keepdim", SQUARE, "softmax-task", "(dy * y).sum(dim=-1, keepdim=True)",
       "(dy * y).sum(dim=-1)", ("broadcasting", "other")),  # autograd sums the too-large gradient to x's shape
    _M(A1, "softmax_dot_wrong_axis", AXIS, "softmax-task", "(dy * y).sum(dim=-1, keepdim=True)",
       "(dy * y).sum(dim=0, keepdim=True)", ("other",)),
    _M(A1, "softmax_no_row_sum", TERM, "softmax-task", "(dy * y).sum(dim=-1, keepdim=True)", "(dy * y)", ("other",)),
    _M(A1, "softmax_zeros", DETACHED, "softmax-task", "return y * (dy - dot)", "return dy * 0", ("zeros",)),
    _M(A1, "log_softmax_no_exp", TERM, "logsoftmax-task", "y.exp() * total", "y * total", ("other",)),
    _M(A1, "log_softmax_sign", SIGN, "logsoftmax-task", "return dy - y.exp() * total",
       "return y.exp() * total - dy", ("sign",)),
    _M(A1, "log_softmax_no_max", OVERFLOW, "logsoftmax-task", "s = x - x.max(axis=-1, keepdims=True)", "s = x",
       ("overflow",)),
    _M(A1, "cross_entropy_no_mean", SCALE, "ce-task", "(p - onehot) / N", "(p - onehot)", ("scale",)),
    _M(A1, "cross_entropy_sign", SIGN, "ce-task", "(p - onehot) / N", "(onehot - p) / N", ("sign",)),
    _M(A1, "cross_entropy_ignores_dy", SCALE, "ce-task", "return dy * minidl.Tensor(", "return minidl.Tensor(",
       ("scale", "other")),
    _M(A1, "cross_entropy_target_off_by_one", OFF_BY_ONE, "ce-task", "ctx.target] = 1.0",
       "ctx.target - 1] = 1.0", ("other",)),
    # assignment 2: conv2d from unfold
    _M(A2, "output_size_off_by_one", OFF_BY_ONE, "size-task", "// stride + 1", "// stride + 2", ("assert",)),
    _M(A2, "output_size_no_padding", TERM, "size-task", "n + 2 * padding - k", "n - k", ("assert",)),
    _M(A2, "sign", SIGN, "conv-task", "    return y\n", "    return -y\n", ("sign",)),
    _M(A2, "transposed_kernel", TRANSPOSE, "conv-task", "weight.reshape(OC, C * KH * KW)",
       "weight.transpose(2, 3).reshape(OC, C * KH * KW)", ("other",)),
    _M(A2, "padding_off_by_one", OFF_BY_ONE, "conv-task", "padding=padding, stride=stride",
       "padding=padding + 1, stride=stride", ("exception", "shape")),
    _M(A2, "forgotten_bias", BIAS, "conv-task", "y = y + bias.reshape(1, OC, 1, 1)", "y = y", ("bias",)),
    _M(A2, "bias_wrong_axis", SQUARE, "conv-task", "bias.reshape(1, OC, 1, 1)", "bias.reshape(1, 1, 1, OC)",
       ("shape", "broadcasting", "bias")),
    _M(A2, "bias_detached", DETACHED, "conv-task", "bias.reshape(1, OC, 1, 1)", "bias.detach().reshape(1, OC, 1, 1)",
       ("zeros",)),
    _M(A2, "mean_for_sum", SCALE, "conv-task", "(w2 @ cols).reshape", "((w2 @ cols) / (C * KH * KW)).reshape",
       ("scale",)),
    # assignment 3: the LSTM cell
    _M(A3, "forward_gate_order", GATES, "lstm03", "i = F.sigmoid(a[:, 0:H])\n    f = F.sigmoid(a[:, H : 2 * H])",
       "f = F.sigmoid(a[:, 0:H])\n    i = F.sigmoid(a[:, H : 2 * H])", ("other",)),
    _M(A3, "forward_no_b_hh", BIAS, "lstm03", "h @ w_hh.T + b_hh", "h @ w_hh.T", ("other",)),
    _M(A3, "forward_no_tanh", TERM, "lstm03", "h_new = o * F.tanh(c_new)", "h_new = o * c_new", ("other",)),
    _M(A3, "forward_no_forget", TERM, "lstm03", "c_new = f * c + i * g", "c_new = c + i * g", ("other",)),
    _M(A3, "backward_sign", SIGN, "lstm06", "dc * f, da.T @ x,", "dc * f, -(da.T @ x),", ("sign",)),
    _M(A3, "backward_gate_order", GATES, "lstm06", "[dc * g * i * (1 - i), dc * c * f * (1 - f),",
       "[dc * c * f * (1 - f), dc * g * i * (1 - i),", ("other",)),
    _M(A3, "backward_no_h_path", TERM, "lstm06", "dc = dc_new + dh_new * o * (1 - t * t)", "dc = dc_new",
       ("other",)),
    _M(A3, "backward_no_b_hh_grad", BIAS, "lstm06", "da.T @ h, db, db", "da.T @ h, db, None", ("zeros",)),
    _M(A3, "backward_transposed_weight_grad", TRANSPOSE, "lstm06", "dc * f, da.T @ x,", "dc * f, x.T @ da,",
       ("broadcasting",)),
    # assignment 4: causal attention
    _M(A4, "mask_diagonal_excluded", OFF_BY_ONE, "attn03", "k=1)", "k=0)", ("assert",)),
    _M(A4, "no_scale", SCALE, "attn06", "q @ k.mT / math.sqrt(d_k)", "q @ k.mT", ("scale",)),
    _M(A4, "scale_d_k", SCALE, "attn06", "/ math.sqrt(d_k)", "/ d_k", ("scale",)),
    _M(A4, "mask_after_softmax", MASK, "attn06", "F.softmax(scores + causal_mask(L), dim=-1)",
       "F.softmax(scores, dim=-1) * minidl.tensor(np.isfinite(causal_mask(L).numpy()) * 1.0)", ("mask",)),
    _M(A4, "no_mask", MASK, "attn06", "F.softmax(scores + causal_mask(L), dim=-1)", "F.softmax(scores, dim=-1)",
       ("mask",)),
    _M(A4, "softmax_over_queries", AXIS, "attn06", "causal_mask(L), dim=-1)", "causal_mask(L), dim=-2)", ("other",)),
    _M(A4, "own_softmax_no_max", OVERFLOW, "attn06", "p = F.softmax(scores + causal_mask(L), dim=-1)",
       "e = (scores + causal_mask(L)).exp()\n    p = e / e.sum(dim=-1, keepdim=True)", ("overflow",)),
    _M(A4, "sign", SIGN, "attn06", "return p @ v", "return -(p @ v)", ("sign",)),
    _M(A4, "keys_not_transposed", SQUARE, "attn06", "q @ k.mT /", "q @ k /", ("shape", "exception")),
    # assignment 5: a scalar autograd Value
    _M(A5, "mul_backward_sign", SIGN, "value-task", "other.grad += self.data * out.grad",
       "other.grad -= self.data * out.grad", ("other", "sign")),
    _M(A5, "add_overwrites", ACCUMULATE, "value-task", "self.grad += out.grad\n", "self.grad = out.grad\n",
       ("other",)),
    _M(A5, "pow_off_by_one", OFF_BY_ONE, "value-task", "self.data ** (n - 1)", "self.data ** n", ("other",)),
    _M(A5, "tanh_backward_no_square", TERM, "value-task", "(1 - t * t) * out.grad", "(1 - t) * out.grad",
       ("other",)),
    _M(A5, "exp_backward_uses_input", TERM, "value-task", "self.grad += out.data * out.grad",
       "self.grad += self.data * out.grad", ("other",)),
    _M(A5, "output_grad_not_seeded", DETACHED, "value-task", "self.grad = 1.0", "self.grad = 0.0", ("zeros",)),
    _M(A5, "no_topological_order", ORDER, "value-task", "for node in reversed(order):", "for node in order:",
       ("zeros", "other")),
    # assignment 6: broadcasting in the backward
    _M(A6, "unbroadcast_no_keepdim", SQUARE, "unbroadcast-task", "g.sum(dim=ones, keepdim=True)\n    return g.reshape("
       "shape)", "g.sum(dim=ones)\n    return g", ("exception", "shape", "broadcasting")),
    _M(A6, "unbroadcast_from_the_left", SQUARE, "unbroadcast-task", "g = g.sum(dim=tuple(range(lead)))",
       "g = g.sum(dim=tuple(range(g.ndim - lead, g.ndim)))", ("exception", "shape", "other")),
    _M(A6, "unbroadcast_size_one_dims_kept", TERM, "unbroadcast-task", "    if ones:\n", "    if False:\n",
       ("exception", "shape")),
    _M(A6, "mul_grads_swapped", TRANSPOSE, "backward-task", "unbroadcast(dy * b, a.shape), unbroadcast(dy * a,",
       "unbroadcast(dy * a, a.shape), unbroadcast(dy * b,", ("other", "exception")),
    _M(A6, "mul_no_unbroadcast", SQUARE, "backward-task", "return unbroadcast(dy * b, a.shape), unbroadcast(dy * a, "
       "b.shape)", "return dy * b, dy * a", ("shape", "broadcasting")),
    _M(A6, "div_sign", SIGN, "backward-task", "-dy * a / b ** 2", "dy * a / b ** 2", ("sign",)),
    _M(A6, "div_no_square", TERM, "backward-task", "-dy * a / b ** 2", "-dy * a / b", ("other",)),
    # assignment 7: conv2d backward from unfold
    _M(A7, "dw_transposed", TRANSPOSE, "weight-task", "(dyf @ cols.mT)", "(cols @ dyf.mT)",
       ("exception", "shape", "other")),  # (C*KH*KW, OC) reshapes to w's shape: wrong values
    _M(A7, "dw_not_summed_over_batch", AXIS, "weight-task", "(dyf @ cols.mT).sum(dim=0)", "(dyf @ cols.mT)[0]",
       ("other",)),
    _M(A7, "db_wrong_axes", AXIS, "weight-task", "dyf.sum(dim=(0, 2))", "dyf.sum(dim=(1, 2))", ("shape", "other")),
    _M(A7, "dw_sign", SIGN, "weight-task", "return dw.reshape(w.shape)", "return -dw.reshape(w.shape)", ("sign",)),
    _M(A7, "dx_padding_ignored", OFF_BY_ONE, "input-task", "(KH, KW), padding=padding, stride=stride)",
       "(KH, KW), padding=0, stride=stride)", ("exception", "shape", "other")),
    _M(A7, "dx_weight_not_transposed", TRANSPOSE, "input-task", "wf.mT @ dy", "wf @ dy", ("exception", "shape")),
    _M(A7, "dx_mean_over_windows", SCALE, "input-task", "wf.mT @ dy.reshape(N, OC, -1)",
       "wf.mT @ dy.reshape(N, OC, -1) / (KH * KW)", ("scale",)),
    # assignment 8: causal attention backward
    _M(A8, "softmax_no_max", OVERFLOW, "softmax-task", "(s - s.amax(dim=-1, keepdim=True)).exp()", "s.exp()",
       ("overflow",)),
    _M(A8, "softmax_no_mask", MASK, "softmax-task", "s = scores + mask", "s = scores", ("mask",)),
    _M(A8, "mask_after_softmax", MASK, "softmax-task",
       "s = scores + mask\n    e = (s - s.amax(dim=-1, keepdim=True)).exp()  # masked entries: exp(-inf) = 0\n"
       "    return e / e.sum(dim=-1, keepdim=True)",
       "e = (scores - scores.amax(dim=-1, keepdim=True)).exp()\n"
       "    return e / e.sum(dim=-1, keepdim=True) * minidl.tensor(np.isfinite(mask.numpy()) * 1.0)", ("mask",)),
    _M(A8, "no_scale", SCALE, "backward-task", "return ds @ k / math.sqrt(d), ds.mT @ q / math.sqrt(d), dv",
       "return ds @ k, ds.mT @ q, dv", ("scale",)),
    _M(A8, "dv_not_transposed", TRANSPOSE, "backward-task", "dv = p.mT @ dy", "dv = p @ dy", ("other",)),
    _M(A8, "softmax_backward_no_row_sum", TERM, "backward-task", "ds = p * (dp - (dp * p).sum(dim=-1, keepdim=True))",
       "ds = p * dp", ("other",)),
    _M(A8, "dq_sign", SIGN, "backward-task", "return ds @ k /", "return -ds @ k /", ("sign",)),
    _M(A8, "dk_not_transposed", TRANSPOSE, "backward-task", "ds.mT @ q /", "ds @ q /", ("other",)),
]
