#!/usr/bin/env python3
"""How fine NVML's total-energy counter is (measure/energy.py reads it around every run): read it in a tight loop
for --seconds on an idle GPU, then print how often its value changed (median and largest gap between changes), the
step of one change in mJ, and the idle power it implies. A run shorter than a few of those gaps gets a coarse
energy figure; the analysis pools runs for that reason.

  python benchmarks/energy_counter.py [--seconds 2] [--gpu 0]
"""
import argparse, statistics, time

def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--seconds", type=float, default=2.0)
  p.add_argument("--gpu", type=int, default=0)
  a = p.parse_args()
  import pynvml
  pynvml.nvmlInit()
  h = pynvml.nvmlDeviceGetHandleByIndex(a.gpu)
  read = lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
  t0, e0 = time.perf_counter(), read()
  changes, last, reads = [(t0, e0)], e0, 0
  while time.perf_counter() - t0 < a.seconds:
    e, reads = read(), reads + 1
    if e != last: changes.append((time.perf_counter(), e)); last = e
  t1 = time.perf_counter()
  gaps = [1e3 * (b[0] - a_[0]) for a_, b in zip(changes, changes[1:])]
  steps = [b[1] - a_[1] for a_, b in zip(changes, changes[1:])]
  print(f"{pynvml.nvmlDeviceGetName(h)}: {reads} reads in {t1 - t0:.2f} s ({1e6 * (t1 - t0) / max(reads, 1):.1f} us a read), {len(gaps)} changes")
  if gaps:
    print(f"between changes: median {statistics.median(gaps):.1f} ms, largest {max(gaps):.1f} ms; a change: median {statistics.median(steps):.0f} mJ")
    print(f"idle power over the window: {(changes[-1][1] - changes[0][1]) / 1e3 / (changes[-1][0] - changes[0][0]):.1f} W "
          f"(nvmlDeviceGetPowerUsage now: {pynvml.nvmlDeviceGetPowerUsage(h) / 1e3:.1f} W)")
  pynvml.nvmlShutdown()

if __name__ == "__main__": main()
