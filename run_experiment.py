#!/usr/bin/env python3
"""Run an experiment file (experiments/*.yaml): every combination of its lists is a configuration, each run in its
own worker; configurations with an ok log of the same settings in the output folder are skipped, so rerunning a
killed experiment finishes it. --dry-run prints the plan and an estimate of the time.
The same as `inferbench experiment`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["experiment", *sys.argv[1:]]))
