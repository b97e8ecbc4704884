"""What truncated BPTT can and cannot learn (see rnncourse.experiments.truncation)."""
import sys

from rnncourse.experiments.truncation import main

sys.exit(main(sys.argv[1:]))
