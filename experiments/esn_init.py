"""ESN-style initialisation then full training, against PyTorch's default (see rnncourse.experiments.esn_init)."""
import sys

from rnncourse.experiments.esn_init import main

sys.exit(main(sys.argv[1:]))
