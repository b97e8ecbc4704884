"""Encoder-decoder networks with and without attention (chapter 5): ``python experiments/seq2seq.py [--tiny]``."""
import sys

from rnncourse.experiments.seq2seq import main

sys.exit(main(sys.argv[1:]))
