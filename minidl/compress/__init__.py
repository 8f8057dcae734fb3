"""minidl.compress: making a trained model smaller, and measuring what it costs.

    prune        magnitude pruning as masks (torch.nn.utils.prune's API): l1_unstructured,
                 ln_structured, global_unstructured, prune_heads, remove, is_pruned
    quantize     int8 dynamic quantization of Linear and Conv2d (integer matmul, int32
                 accumulation), post-training static calibration, int8 save/load
    lowrank      truncated-SVD factorization of Linear layers
    distill      knowledge distillation: the loss and a training loop for minidl.nn;
                 keras_distiller holds the Keras ``Distiller`` model (imports minidl.keras)

Notebook: notebooks/10_compression.ipynb.
"""

from . import distill, lowrank, prune, quantize

__all__ = ["distill", "lowrank", "prune", "quantize"]
