"""rnncourse: the code behind the *Recurrent Neural Networks* course.

Chapters import from here; the exercise checks and the grader compare student code
against the reference implementations here. Topic modules:

- :mod:`rnncourse.device`    where tensors live, seeding
- :mod:`rnncourse.dynamics`  recurrent maps, Elman and Jordan networks (chapter 1)
- :mod:`rnncourse.recurrent` ``torch.nn``-shaped recurrent layers
- :mod:`rnncourse.plots`, :mod:`rnncourse.widgets`  figures and explorers for the book
- :mod:`rnncourse.checks`    self-checks that give students readable messages
"""

from rnncourse.device import available_devices, device, seed_everything

__version__ = "0.1.0"

__all__ = ["__version__", "available_devices", "device", "seed_everything"]
