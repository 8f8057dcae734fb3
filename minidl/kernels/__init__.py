"""Fast kernels: accelerated implementations of named reference ops.

Each module here speeds up ops whose readable reference lives in ``minidl/functional/`` (the
same file name), and registers each kernel against its reference with
``minidl.dispatch.register_kernel``. A kernel has one backward; for second derivatives it
defers to the reference (``minidl.dispatch.KernelFunction``). It stays only where
``benchmarks/`` shows it faster than the reference on the shapes that matter, and
``tests/test_kernels_*.py`` checks that it equals the reference in value and gradient.

``minidl.reference_mode()`` or ``MINIDL_REFERENCE=1`` turns every kernel off.
"""

from . import activation, attention, conv, linalg, loss, normalization, recurrent  # noqa: E402, F401  (each registers its kernels)
