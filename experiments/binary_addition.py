"""Binary addition with three hidden units (see rnncourse.experiments.binary_addition)."""
import sys

from rnncourse.experiments.binary_addition import main

sys.exit(main(sys.argv[1:]))
