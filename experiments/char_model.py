"""Character-level language models (chapter 2): ``python experiments/char_model.py [--tiny]``."""

import sys

from rnncourse.experiments.char_model import main

sys.exit(main(sys.argv[1:]))
