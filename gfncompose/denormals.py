"""Float32 subnormals flushed to zero while a learner trains.

A subnormal float32 (``0 < |x| < 1.18e-38``) takes x86 CPUs many times longer per operation
than a normal number. The classifier's loss makes them: posteriors of a base given a long
trajectory of another (``exp`` of a very negative log posterior), times soft labels, give
loss weights below 1.2e-38, and their gradients fill rows of the action head's
``[pairs, channels·hidden]`` slot features. On the literature's fragment space 9 % of that
gradient was subnormal, and its two backward matrix products took 44 and 60 ms instead of
~2.5 (``benchmarks/RESULTS.md``). Flushing (x86's FTZ and DAZ modes, set by
:func:`torch.set_flush_denormal`) changes each such value by less than 1.2e-38.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

_SUBNORMAL = torch.finfo(torch.float32).tiny / 4
"""A float32 subnormal: 0 where subnormals are flushed."""


def flushing() -> bool:
    """Whether this thread's CPU flushes float32 subnormals to zero now."""
    return torch.tensor([_SUBNORMAL], dtype=torch.float32).mul(1.0).item() == 0.0


@contextlib.contextmanager
def flushing_denormals() -> Iterator[None]:
    """Within the block, this thread's CPU flushes float32 subnormals to zero (where the CPU
    has such a mode: x86 and ARM); after it, the mode is what it was before. The CPU keeps
    the mode per thread, so torch's intra-op threads started earlier may keep theirs (with
    two threads started before the block, the classifier's loss pass still ran 1.8× faster)."""
    before = flushing()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)
