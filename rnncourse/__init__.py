"""rnncourse: the code behind the *Recurrent Neural Networks* course.

Chapters import from here; the exercise checks and the grader compare student code
against the reference implementations here. Topic modules:

- :mod:`rnncourse.devices`   where tensors live, seeding
- :mod:`rnncourse.dynamics`  recurrent maps, Elman and Jordan networks (chapter 1)
- :mod:`rnncourse.bptt`      backpropagation through time by hand, clipping (chapter 2)
- :mod:`rnncourse.gradcheck` finite differences in float64, relative error
- :mod:`rnncourse.recurrent` ``torch.nn``-shaped recurrent layers
- :mod:`rnncourse.plots`, :mod:`rnncourse.widgets`  figures and explorers for the book
- :mod:`rnncourse.checks`    self-checks that give students readable messages

``import rnncourse`` is cheap: PyTorch is imported the first time a name that needs it is used.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "available_devices", "device", "seed_everything"]

_LAZY = {"available_devices", "device", "seed_everything"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from rnncourse import devices

        value = getattr(devices, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rnncourse' has no attribute {name!r}")
