#!/usr/bin/env python3
"""Build presentation.pdf: copy the eight plots from plots/ to docs/images/, compute docs/deck_data.json (setup and
findings) from benchmark_output/summary.csv, and compile presentation.typ with the typst package, offline. Run
benchmark_analysis.py, generate_plots.py and generate_additional_plots.py first.
The same as `inferbench deck`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["deck", *sys.argv[1:]]))
