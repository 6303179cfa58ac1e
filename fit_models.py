#!/usr/bin/env python3
"""Physical models from a result folder's runs: decode ms/token from the bytes a step reads over the measured
bandwidth, time to first token from its FLOPs over the measured compute ceiling, peak memory from weights, KV cache,
buffers and the runtime's overhead; every term in its physical range (eta in (0, 1]), or a note instead of a
prediction. Validated leaving one configuration out; --holdout SIZES for a true out-of-sample test. Writes
DIR/models.json, DIR/model_fit.csv and plots/model_fit.png.
The same as `inferbench fit`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["fit", *sys.argv[1:]]))
