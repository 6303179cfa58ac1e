"""measure/contention.py: the share of its CPUs other work kept busy during each run, from /proc/stat; a benchmark
beside other work is flagged contended in the summary and its ratios are not compared in the deck."""
import multiprocessing, os, time
from contextlib import contextmanager
import benchdata
from inferbench.analyse import analysis
from inferbench.measure import contention
from inferbench.report import story
from inferbench.store.rawlog import parse

def _spin(stop):
  while not stop.is_set(): pass

@contextmanager
def other_work():
  """A busy process per CPU this one may use, until the block ends; yields their pids."""
  stop = multiprocessing.Event()
  procs = [multiprocessing.Process(target=_spin, args=(stop,), daemon=True) for _ in os.sched_getaffinity(0)]
  for p in procs: p.start()
  try: yield [p.pid for p in procs]
  finally:
    stop.set()
    for p in procs: p.join(10)

def test_busy_time_counts_the_processes_cpus_and_subtracts_its_own():
  stat = ("cpu  900 0 900 900 0 0 0 0 0 0\n"
          "cpu0 100 5 50 900 7 1 2 3 0 0\ncpu1 200 0 100 0 0 0 0 0 0 0\ncpu2 400 0 0 0 0 0 0 0 0 0\nintr 1 2 3\n")
  assert contention.busy_seconds({0, 1}, stat) == (161 + 300) * contention.TICK_S  # idle and iowait are not busy; cpu2 not ours
  start, end = contention.Mark(0.0, 10.0, 1.0, 2), contention.Mark(2.0, 13.0, 2.0, 2)
  assert contention.other_share(start, end) == 0.5  # 3 busy CPU-s, 1 of them this process's, over 2 s x 2 CPUs
  assert contention.other_share(start, end._replace(busy_s=None)) is None
  assert contention.other_share(start, end._replace(wall_s=0.2)) is None  # 0.4 CPU-s: a tick would be 2.5% of it

def cpu_seconds(pids: list[int]) -> float:
  """The CPU time (user + system) /proc/<pid>/stat counts for these processes."""
  fields = [open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split() for p in pids]
  return sum(int(f[11]) + int(f[12]) for f in fields) * contention.TICK_S

def test_other_processes_are_other_work():
  """The share is what the other processes took of this one's CPUs: not a fixed level, since this process's own
  threads (a suite's thread pools) take their part of the CPUs too, and that part is its own."""
  with other_work() as spinners:
    time.sleep(0.5)  # the spinners running
    a, spun_a = contention.mark(), cpu_seconds(spinners)
    time.sleep(2.0)
    b, spun_b = contention.mark(), cpu_seconds(spinners)
  share, theirs = contention.other_share(a, b), (spun_b - spun_a) / ((b.wall_s - a.wall_s) * b.cpus)
  # at least theirs (ticks of rounding aside: 4 CPU-s are 400 ticks); more where anything else runs beside the suite,
  # which is other work too. A loaded machine gives the spinners less than their CPUs, but never none of them
  assert theirs >= 0.1 and share >= theirs - 0.03, (share, theirs)

def test_a_benchmark_beside_other_work_is_flagged_and_not_compared(tmp_path, tiny_model):
  with other_work():
    r = benchdata.script("llamacpp_benchmark.py", "--model", str(tiny_model), "--quantize", "default", "int8", *benchdata.RUN,
                         "--runs", "3", "--n-tokens", "400", "-o", str(tmp_path))
  assert r.returncode == 0, r.stderr[-2000:]
  shares = [run["other_cpu_share"] for p in tmp_path.glob("llamacpp_*.txt") for run in parse(p).runs]
  # the spinners held the CPUs the worker's one thread did not; a run too short to tell has none
  assert len(shares) == 6 and sorted(s for s in shares if s is not None)[len(shares) // 2 - 1] >= 0.3, shares
  assert benchdata.script("llamacpp_collate.py", "-d", str(tmp_path)).returncode == 0
  assert analysis.main(["-d", str(tmp_path)]) == 0
  summary = analysis.read_summary(tmp_path / "summary.csv")
  decode = summary[summary["phase"] == "decode"]
  assert decode["flags"].str.contains("contended (other work kept", regex=False).all(), decode["flags"].tolist()
  e = story.Evidence(summary, analysis.read_ratios(tmp_path / "ratios.csv"), tmp_path)
  slide = story.quantization(e, tmp_path / "deck")
  assert "not compared: other work kept up to" in slide.title and "×" not in slide.title, slide.title
  assert story.comparable(e, e.ratios).empty and len(e.ratios)
  assert story.caveats(e, tmp_path / "deck").title.endswith("; 2 measured beside other work")
  from inferbench.report import deck
  said = deck.findings(summary, e.ratios, "llamacpp")
  assert said["quantization"] and all(s.endswith("; measured beside other work: not comparable") for s in said["quantization"]), said["quantization"]
  assert "4 of 4 configuration-phases measured beside other work" in " ".join(said["caveats"])
