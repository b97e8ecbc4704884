"""rnncourse: the code behind the *Recurrent Neural Networks* course.

Chapters import from here; the exercise checks and the grader compare student code
against the reference implementations here. Topic modules:

- :mod:`rnncourse.devices`   where tensors live, seeding
- :mod:`rnncourse.dynamics`  recurrent maps, Elman and Jordan networks (chapter 1)
- :mod:`rnncourse.bptt`      backpropagation through time by hand, clipping (chapter 2)
- :mod:`rnncourse.gradcheck` finite differences in float64, relative error
- :mod:`rnncourse.recurrent` ``torch.nn``-shaped recurrent layers and cells written from their equations:
  :class:`~rnncourse.RNN`, :class:`~rnncourse.LSTM`, :class:`~rnncourse.GRU` and the cells
  :class:`~rnncourse.RNNCell`, :class:`~rnncourse.LSTMCell`, :class:`~rnncourse.GRUCell` (chapter 3)
- :mod:`rnncourse.esn`       echo state networks: :class:`~rnncourse.ESN`, Mackey-Glass, the frequency generator,
  NRMSE (chapter 4)
- :mod:`rnncourse.translation` generated toy translation tasks (reversal, dates) for encoder-decoder
  networks: :class:`~rnncourse.Vocabulary`, :class:`~rnncourse.TranslationTask`, :func:`~rnncourse.make_task`
  (chapter 5)
- :mod:`rnncourse.seq2seq`   encoder-decoder networks with additive or multiplicative attention, greedy and beam
  search: :class:`~rnncourse.Seq2Seq` (chapter 5); :mod:`rnncourse.translation` its generated tasks
  (reversal, dates) and vocabularies
- :mod:`rnncourse.plots`, :mod:`rnncourse.widgets`  figures and explorers for the book
- :mod:`rnncourse.checks`    self-checks that give students readable messages

``import rnncourse`` is cheap: PyTorch is imported the first time a name that needs it is used.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "ESN",
    "GRU",
    "LSTM",
    "RNN",
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "Seq2Seq",
    "TranslationTask",
    "Vocabulary",
    "__version__",
    "available_devices",
    "device",
    "make_task",
    "seed_everything",
]

#: Top-level names and the module each comes from, imported on first use.
_LAZY = {
    "available_devices": "devices",
    "device": "devices",
    "seed_everything": "devices",
    "ESN": "esn",
    "RNN": "recurrent",
    "LSTM": "recurrent",
    "GRU": "recurrent",
    "RNNCell": "recurrent",
    "LSTMCell": "recurrent",
    "GRUCell": "recurrent",
    "Seq2Seq": "seq2seq",
    "Vocabulary": "translation",
    "TranslationTask": "translation",
    "make_task": "translation",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"rnncourse.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rnncourse' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
