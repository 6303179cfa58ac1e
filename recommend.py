#!/usr/bin/env python3
"""Which backend, quantization and settings to use under your limits: joins the speed summary, the sweep's quality
and the measured (else predicted) memory of a result folder, keeps what satisfies --max-memory, --max-kl,
--max-ppl-increase, --min-tok-s, --max-ttft-ms, --device and --size, and ranks it by --objective. Writes
DIR/recommendation.csv, DIR/pareto.csv and plots/pareto_front.png; exit code 1 when nothing satisfies the limits.
--verify then measures the pick against each other backend's best (--against quantizations: each other quantization
of its backend) in --rounds interleaved rounds, logs in DIR/verify/, verdicts in verification.csv.
The same as `inferbench recommend`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["recommend", *sys.argv[1:]]))
