"""`inferbench recommend --verify`: the recommender's pick measured again, right away, before it is trusted.

What runs: the pick (rank 1) and the best-ranked alternative of each other backend (--against backends), or of each
other quantization of the pick's backend and device (--against quantizations), all satisfying the same constraints.
Each runs --rounds times, interleaved and rotated (round 1: A B C, round 2: B C A, ...), each time one fresh worker
doing the configuration's warm-up and ONE measured run, its log in DIR/verify/ (apart from DIR's own logs, so DIR's
summary does not change behind the recommendation). A measured row's configuration is its newest ok log's
run_config; a predicted row's is its reference configuration's with the quantization replaced, so a predicted pick
is measured before it is recommended. A row without such a log is named and skipped, never guessed.

The verdict per alternative: the pick's decode tok/s over the alternative's (analysis.py's tokens over time of each
round), rounds paired (round i of both ran side by side), with the seeded bootstrap 95% interval: "held" above 1,
"tie within noise" around 1, "did not hold" below 1. It is a verdict on decode speed, whatever --objective ranked by.
Writes verification.csv beside recommendation.csv; exit code 0 when the pick held or tied, 1 when it did not hold or
could not be compared.
"""
from __future__ import annotations
import argparse, dataclasses, datetime, json, signal, sys, time, uuid
from pathlib import Path
import numpy as np
import pandas as pd
from inferbench.analyse import analysis
from inferbench.core import cli, proc
from inferbench.core.config import RunConfig
from inferbench.core.names import fmt, knob_words, name, with_ci
from inferbench.core.stats import bootstrap_ratio, format_table
from inferbench.decide import recommend
from inferbench.run.local import log_name, run_limited, summarize
from inferbench.store.collate import write_csv
from inferbench.store.rawlog import LogError, parse

AGAINST = {"backends": "backend", "quantizations": "quantize"}  # --against -> the column whose other values are the alternatives
VERDICTS = ("held", "tie within noise", "did not hold")
SIDE = ["label", "backend", "device", "quantize", "knobs", "source", "config", "ranked_tok_s", "tok_s_median"]
COLUMNS = [*(f"pick_{c}" for c in SIDE), *(f"alt_{c}" for c in SIDE), "ratio", "ratio_ci95_low", "ratio_ci95_high", "verdict", "overall",
           "rounds", "rounds_paired", "against", "constraints", "verify_dir", "started_at", "ended_at"]

@dataclasses.dataclass(frozen=True)
class Entry:
  row: pd.Series  # the recommender's row
  cfg: RunConfig  # what runs, one measured run per round

def label(r: pd.Series) -> str:
  return f"{name(r['backend'])} {r['size']} {r['quantize']}" + (f", {knob_words(r['knobs'])}" if pd.notna(r["knobs"]) and r["knobs"] else "") + f" ({r['device']})"

def alternatives(table: pd.DataFrame, against: str) -> pd.DataFrame:
  """The best-ranked row of each other backend, or of each other quantization of the pick's backend and device."""
  pick, rest = table.iloc[0], table.iloc[1:]
  if against == "quantizations": rest = rest[(rest["backend"] == pick["backend"]) & (rest["device"] == pick["device"])]
  column = AGAINST[against]
  return rest[rest[column] != pick[column]].drop_duplicates(column)  # ranked: the first of each is its best

def config(r: pd.Series, folder: Path, runs: pd.DataFrame) -> RunConfig | str:
  """The row's configuration from its newest ok log with a run_config (a predicted row: its reference
  configuration's, the quantization replaced), for one measured run; else why there is none."""
  predicted = r["source"] == "predicted"
  ref = recommend.reference_config(r["config"]) if predicted else r["config"]
  for log_file in runs.loc[runs["config"] == ref].sort_values("started_at", kind="stable")["log_file"].drop_duplicates()[::-1]:
    try: log = parse(folder / log_file)
    except LogError: continue
    if log.ok and "run_config" in log.header and "prompt_token_ids" in log.header:
      cfg = RunConfig.from_settings(json.loads(log.header["run_config"]))
      # one measured run a round: not the runs (or --target-ci) the log was measured with
      return dataclasses.replace(cfg, prompt_ids=json.loads(log.header["prompt_token_ids"]), runs=1, min_seconds=0.0, target_ci_pct=None,
                                 max_runs=None, max_seconds=None, quantize=r["quantize"] if predicted else cfg.quantize)
  return f"no ok log with a run_config for its configuration {ref} in {folder} (runs.csv's log_file)"

def decode_tok_s(logs: list[Path]) -> dict[str, float]:
  """Each ok log's decode tok/s by its uuid: its one run's decode tokens over their time, as analysis.py makes it."""
  data = analysis.from_logs(logs)
  if not len(data.steps): return {}
  runs = analysis.run_table(data)
  return dict(zip(runs["uuid"], runs["decode_tok_s"]))

def measure(entries: list[Entry], rounds: int, folder: Path, timeout: float | None) -> tuple[np.ndarray, list[dict]]:
  """Every entry once a round, the order rotated each round, each in a fresh worker. Returns decode tok/s per entry
  and round (nan where the round failed) and what ran (run.local.summarize's records)."""
  folder.mkdir(parents=True, exist_ok=True)
  tok, done = np.full((len(entries), rounds), np.nan), []
  for r in range(rounds):
    for i in (np.arange(len(entries)) + r) % len(entries):
      cfg = dataclasses.replace(entries[i].cfg, uuid=uuid.uuid4().hex[:8])
      path, t0, what = folder / log_name(cfg), time.perf_counter(), f"[round {r + 1}/{rounds}] {label(entries[i].row)}"
      print(f"{what} -> {path}", file=sys.stderr, flush=True)
      status = run_limited(cfg, path, timeout)
      tok[i, r] = decode_tok_s([path]).get(cfg.uuid, np.nan)
      print(f"{what}: {status}" + (f", {fmt(tok[i, r])} decode tok/s" if np.isfinite(tok[i, r]) else "") + f" in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr, flush=True)
      done.append({"label": cfg.label, "log": path, "status": status})
  return tok, done

def verdict(ratio: float, lo: float, hi: float, alt: str, paired: int) -> str:
  if not np.isfinite(ratio): return "not compared: no round ran ok for both"
  if not np.isfinite(lo): return f"not compared: {paired} round(s) ran ok for both, an interval needs 3"
  return VERDICTS[0] if lo > 1 else f"{VERDICTS[2]}: {alt} is faster" if hi < 1 else VERDICTS[1]

def overall(pick: str, verdicts: dict[str, str], against: str) -> str:
  lost = [a for a, v in verdicts.items() if v.startswith(VERDICTS[2])]
  tied = [a for a, v in verdicts.items() if v == VERDICTS[1]]
  if lost: return f"did not hold: {', '.join(lost)} faster than {pick}"
  if tied: return f"tie within noise with {', '.join(tied)}"
  if not verdicts: return f"not verified: no other {AGAINST[against]} satisfies the constraints (--against {against})"
  if unknown := [a for a, v in verdicts.items() if v != VERDICTS[0]]: return f"not verified: {', '.join(unknown)} not compared"
  return f"verified: {pick} held against all alternatives"

def side(e: Entry, tok: np.ndarray) -> dict:
  r, measured = e.row, np.isfinite(tok).any()
  source = r["source"] if r["source"] == "measured" else f"{r['source']}, {'now measured' if measured else 'not measured'}"
  return {"label": label(r), "backend": r["backend"], "device": r["device"], "quantize": r["quantize"], "knobs": r["knobs"], "source": source,
          "config": r["config"], "ranked_tok_s": r["tok_s"], "tok_s_median": float(np.nanmedian(tok)) if measured else np.nan}

def verify(a: recommend.Answer, args: argparse.Namespace, given: str) -> int:
  folder, out = Path(args.dir), Path(args.output_dir or args.dir)
  runs = analysis.read_runs(folder / "runs.csv") if (folder / "runs.csv").is_file() else pd.DataFrame(columns=["config", "log_file", "started_at"])
  entries = []
  for i, (_, r) in enumerate(pd.concat([a.table.head(1), alternatives(a.table, args.against)]).iterrows()):
    if isinstance(cfg := config(r, folder, runs), str):
      print(f"cannot verify the pick {label(r)}: {cfg}" if i == 0 else f"alternative {label(r)} skipped: {cfg}")
      if i == 0: return 1
    else: entries.append(Entry(r, cfg))
  started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
  print(f"verifying {label(entries[0].row)} against {len(entries) - 1} alternative(s) (--against {args.against}): {args.rounds} rounds, interleaved",
        file=sys.stderr, flush=True)
  tok, done = measure(entries, args.rounds, folder / "verify", args.timeout)
  summarize(done)
  pick = side(entries[0], tok[0])
  rows = []
  for e, t in zip(entries[1:], tok[1:]):
    ratio, lo, hi = bootstrap_ratio(tok[0], t, paired=True)
    paired = int((np.isfinite(tok[0]) & np.isfinite(t)).sum())
    alt = side(e, t)
    rows.append({**{f"pick_{k}": v for k, v in pick.items()}, **{f"alt_{k}": v for k, v in alt.items()}, "ratio": ratio, "ratio_ci95_low": lo,
                 "ratio_ci95_high": hi, "verdict": verdict(ratio, lo, hi, alt["label"], paired), "rounds": args.rounds, "rounds_paired": paired})
  line = overall(pick["label"], {r["alt_label"]: r["verdict"] for r in rows}, args.against)
  ended = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
  common = {"overall": line, "rounds": args.rounds, "against": args.against, "constraints": given, "verify_dir": str(folder / "verify"),
            "started_at": started, "ended_at": ended}
  table = pd.DataFrame([{**r, **common} for r in rows] or [{**{f"pick_{k}": v for k, v in pick.items()}, **common}]).reindex(columns=COLUMNS)
  write_csv(out / "verification.csv", COLUMNS, table)
  print(f"pick: {pick['label']} ({pick['source']}), {fmt(pick['tok_s_median'])} decode tok/s (median of {int(np.isfinite(tok[0]).sum())} rounds)")
  if rows:
    print(format_table([{"alternative": r["alt_label"], "source": r["alt_source"], "pick tok/s": r["pick_tok_s_median"], "alt tok/s": r["alt_tok_s_median"],
                         "pick/alt [95% CI, paired rounds]": with_ci(r["ratio"], r["ratio_ci95_low"], r["ratio_ci95_high"]),
                         "rounds": f"{r['rounds_paired']}/{r['rounds']}", "verdict": r["verdict"]} for r in rows],
                       ["alternative", "source", "pick tok/s", "alt tok/s", "pick/alt [95% CI, paired rounds]", "rounds", "verdict"]))
  print(f"{out / 'verification.csv'}; logs in {folder / 'verify'}")
  print(line)
  return 0 if line.startswith(("verified", "tie")) else 1

def parser(doc: str | None = None) -> argparse.ArgumentParser:
  p = recommend.parser(doc)
  g = p.add_argument_group("verifying the pick (inferbench/run/verify.py)")
  g.add_argument("--verify", action="store_true", help="measure the pick against the alternatives right away, interleaved, "
                                                       "logs in DIR/verify/; verdicts in verification.csv")
  g.add_argument("--rounds", type=cli.whole(3), default=5, help="rounds, each running every entry once (at least 3: a paired interval needs them; default: %(default)s)")
  g.add_argument("--against", choices=list(AGAINST), default="backends",
                 help="the alternatives: each other backend's best, or each other quantization of the pick's backend and device (default: %(default)s)")
  g.add_argument("--timeout", type=cli.number(0, inclusive=False), help="seconds before a worker is stopped and its round recorded as failed")
  return p

def main(argv: list[str] | None = None, doc: str | None = None) -> int:
  args = parser(doc).parse_args(argv)
  code, a, given = recommend.respond(args)
  if not args.verify or a is None or a.table.empty: return code
  try:
    with proc.stop_on(signal.SIGTERM, signal.SIGHUP): return verify(a, args, given)  # the running worker's log says why it stopped
  except (KeyboardInterrupt, proc.Stopped) as e:
    print(f"stopped: {proc.interrupted(e)}", file=sys.stderr)
    return proc.exit_code(e)
