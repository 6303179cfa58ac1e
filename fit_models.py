#!/usr/bin/env python3
"""Latency models from a result folder's runs: a roofline-informed regression (ms/token = a + bytes / (eta x
bandwidth), eta per backend x device), the design's log-linear regression on size, context, batch and bits per
weight, and an interactive (< --interactive-ms) classifier, validated leaving one configuration out; --holdout SIZES
for a true out-of-sample test. Writes DIR/models.json, DIR/model_fit.csv and plots/model_fit.png.
The same as `inferbench fit`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["fit", *sys.argv[1:]]))
