#!/usr/bin/env python3
"""Plot a quantization sweep's CSV (decode speed vs perplexity, Pareto front marked) as plots/quantization_pareto.png."""
import sys
from inferbench.sweep_plot import main

if __name__ == "__main__": sys.exit(main())
