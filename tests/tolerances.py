"""How close two probabilities must be, and why.

A probability is compared in absolute terms, never relative: near 0 a
relative tolerance measures the last bits of a number like 3e-285 (an
exp of a log-odds of -654), which two correct summation orders round
differently. What the maths bounds is the log-odds z: a dot product of n
terms computed in two orders differs by at most about n * eps * sum|terms|
(eps = 2.2e-16). For this network's inputs (13 features, 16 hidden units,
terms of at most a few hundred) that is under 1e-11, and since
dp/dz = p(1 - p) <= 1/4, the probabilities differ by under 3e-12.

- SAME_MACHINE: one machine, two computation paths (one row or many, a
  folded scaler or a separate one, JSON or binary tensors).
- ACROSS_MACHINES: an answer recorded on one machine (the README's example,
  an artifact's self-test) against today's, on any CPU. Training runs
  thousands of gradient steps, each rounded by the CPU's BLAS kernels;
  trained under three of OpenBLAS's kernels (SkylakeX, Haswell,
  Sandybridge) the example patient's probability moved by 1e-16, so 1e-9
  (the self-test's own tolerance) leaves a wide margin while still
  catching any real change of the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SAME_MACHINE = 1e-12
ACROSS_MACHINES = 1e-9


def assert_probabilities_close(got: Any, expected: Any, atol: float = SAME_MACHINE) -> None:
    """Element-wise |got - expected| <= atol, for probabilities (or interval
    ends) of any shape."""
    np.testing.assert_allclose(
        np.asarray(got, dtype=float), np.asarray(expected, dtype=float), rtol=0, atol=atol
    )
