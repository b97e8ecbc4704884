"""The empirical feasible length of RNN, LSTM and GRU on long-lag tasks (see rnncourse.experiments.long_lag)."""
import sys

from rnncourse.experiments.long_lag import main

sys.exit(main(sys.argv[1:]))
