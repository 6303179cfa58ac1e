"""How much of its CPUs other work took while a run ran: the busy time /proc/stat counts on the CPUs this process may
use (steal included: another VM's turn on a shared host) minus this process's own CPU time (all its threads), over
the run's wall time times those CPUs. A backend timed beside other work measures the machine's contention, not
itself: with its threads waiting at every barrier for a CPU another process holds, a step can take 100x its time.
The analysis flags a configuration whose runs shared their CPUs (stats.CONTENDED_SHARE) and the deck compares none.

/proc/stat counts in clock ticks (USER_HZ, 100 a second): a window of fewer than MIN_WINDOW_S CPU-seconds (a run of
0.25 s on 2 CPUs) would be a tick or two, so it has no share; a 0.3 s run on 2 CPUs resolves about 2%. Work this
process started (a compiler it ran) counts as other work.
"""
from __future__ import annotations
import os, time
from pathlib import Path
from typing import NamedTuple

STAT = Path("/proc/stat")
TICK_S = 1 / os.sysconf("SC_CLK_TCK")
MIN_WINDOW_S = 50 * TICK_S  # CPU-seconds: one tick is then 2% of it

class Mark(NamedTuple):
  wall_s: float
  busy_s: float | None  # None: /proc/stat unreadable (not Linux)
  own_s: float
  cpus: int

def busy_seconds(cpus: set[int], stat: str) -> float:
  """CPU seconds /proc/stat's text counts as busy (user, nice, system, irq, softirq, steal) on these CPUs."""
  ticks = 0
  for line in stat.splitlines():
    name, *values = line.split()
    if name[:3] == "cpu" and name[3:].isdigit() and int(name[3:]) in cpus:
      user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, values[:8])
      ticks += user + nice + system + irq + softirq + steal
  return ticks * TICK_S

def mark() -> Mark:
  cpus = os.sched_getaffinity(0)
  try: busy = busy_seconds(cpus, STAT.read_text())
  except OSError: busy = None
  return Mark(time.perf_counter(), busy, time.process_time(), len(cpus))

def other_share(start: Mark, end: Mark) -> float | None:
  """The share of this process's CPUs other work kept busy between two marks, 0-1; None where it cannot be told."""
  wall = end.wall_s - start.wall_s
  if start.busy_s is None or end.busy_s is None or wall * end.cpus < MIN_WINDOW_S: return None
  other = (end.busy_s - start.busy_s) - (end.own_s - start.own_s)
  return round(min(max(other / (wall * end.cpus), 0.0), 1.0), 4)  # a tick's rounding can put it a hair outside
