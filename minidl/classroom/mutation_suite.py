"""The mutation suite of the assignments in notebooks/assignments (see ``minidl.classroom.mutations``).

Each entry: notebook, name, kind, cell id, the solution text and its wrong replacement, and the
hints that are right for it. "other" is the honest answer for a mistake no hint describes; a
plain ``assert`` of the key catching it is "assert".
"""

from .mutations import Mutation

A1, A2, A3, A4 = ("01_softmax_backward.ipynb", "02_conv2d_unfold.ipynb", "03_lstm_cell.ipynb",
                  "04_causal_attention.ipynb")
SIGN, SCALE, BIAS = "sign error", "missing or wrong scale", "forgotten bias"
OVERFLOW = "softmax without max-subtraction"
SQUARE, TRANSPOSE, OFF_BY_ONE, AXIS = "broadcasting only on square shapes", "transpose", "off-by-one", "wrong axis"
GATES, MASK, TERM, DETACHED = "gates in the wrong order", "mask wrong or after softmax", "missing term", "detached"

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
]
