#!/usr/bin/env python3
"""Plot a quantization sweep's CSV (decode speed vs perplexity, Pareto front marked) as plots/quantization_pareto.png.
The same as `inferbench pareto`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["pareto", *sys.argv[1:]]))
