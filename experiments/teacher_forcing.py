"""Teacher forcing against scheduled sampling (chapter 2): ``python experiments/teacher_forcing.py [--tiny]``."""
import sys

from rnncourse.experiments.teacher_forcing import main

sys.exit(main(sys.argv[1:]))
