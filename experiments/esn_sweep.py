"""Tuning an echo state network on Mackey-Glass: a timed grid sweep (see rnncourse.experiments.esn_sweep)."""
import sys

from rnncourse.experiments.esn_sweep import main

sys.exit(main(sys.argv[1:]))
