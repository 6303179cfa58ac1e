#!/usr/bin/env python3
"""How fast can the load client itself go? Its highest sustainable open-loop request rate and token rate, against a
minimal local server that streams every token at once (tests/instant_server.py, its own process on 127.0.0.1), so
that what is measured is the client's cost. Each ramp doubles the Poisson rate, --seconds of arrivals a level, until
the client falls behind its schedule (p99 send lag above stats.CLIENT_LAG_MS: the level is flagged client-bound) or
a request fails, twice in a row; the last level before is the highest sustainable one. The request ramp streams --n-tokens tokens a
request, the token ramp --long-tokens. On a 2-core machine the server takes one core; the figures are this machine's.

  python benchmarks/client_capacity.py                    # request ramp at 16 tokens, token ramp at 256
"""
import argparse, contextlib, io, sys, tempfile
from pathlib import Path
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "tests"))
import instant_server  # noqa: E402
from benchdata import free_port  # noqa: E402
from inferbench.core import stats  # noqa: E402
from inferbench.run import load  # noqa: E402
from inferbench.store.collate import load_figures  # noqa: E402
from inferbench.store.rawlog import parse  # noqa: E402

def level(url: str, rate: float, n_tokens: int, seconds: float) -> dict:
  """One open-loop load level's figures (collate.load_figures), the client's output kept quiet."""
  with tempfile.TemporaryDirectory() as out, contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
    load.main(["--endpoint", url, "--n-tokens", str(n_tokens - 1), "--warmup-requests", "1", "--request-rate", str(rate),
               "--duration", str(seconds), "--request-timeout", "30", "-o", out])
    (path,) = Path(out).glob("*.txt")
    runs = parse(path).runs
  return load_figures(runs) | {"offered": rate, "requests": len(runs)}

def ramp(url: str, start: float, n_tokens: int, seconds: float, top: float) -> dict | None:
  """Doubles the rate from start until the client is behind its schedule; prints each level; the last one it kept."""
  print(f"\n{n_tokens} tokens a request, {seconds:g} s of arrivals a level")
  print(f"{'offered req/s':>14} {'achieved req/s':>15} {'tokens/s':>10} {'lag p50 ms':>11} {'lag p99 ms':>11} {'failed':>7}")
  kept, rate = None, start
  while rate <= top:
    for attempt in (1, 2):  # a level that trips is run once more: on a shared machine another process can stall a request
      f = level(url, rate, n_tokens, seconds)
      bound = f["failed"] or f["send_lag_ms_p99"] is None or f["send_lag_ms_p99"] > stats.CLIENT_LAG_MS
      print(f"{rate:>14g} {f['prompts_per_s'] or 0:>15.1f} {f['tok_s'] or 0:>10.0f} {f['send_lag_ms_p50'] or 0:>11.2f} {f['send_lag_ms_p99'] or 0:>11.2f} "
            f"{f['failed']:>7}" + ("  client-bound" if bound else ""))
      if not bound: break
    if bound: break
    kept, rate = f, rate * 2
  return kept

def main() -> int:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--seconds", type=float, default=3.0, help="seconds of arrivals per level")
  p.add_argument("--n-tokens", type=int, default=16, help="tokens a request in the request ramp")
  p.add_argument("--long-tokens", type=int, default=256, help="tokens a request in the token ramp")
  p.add_argument("--top", type=float, default=6400, help="the highest rate tried")
  args = p.parse_args()
  with instant_server.serving(free_port()) as url:
    req = ramp(url, 25, args.n_tokens, args.seconds, args.top)
    tok = ramp(url, 2, args.long_tokens, args.seconds, args.top)
  print(f"\nhighest sustainable (p99 send lag <= {stats.CLIENT_LAG_MS:g} ms, no failure):")
  if req: print(f"  {req['offered']:g} requests/s offered ({req['prompts_per_s']:.0f} achieved) at {args.n_tokens} tokens each")
  if tok: print(f"  {tok['tok_s']:.0f} tokens/s ({tok['offered']:g} requests/s of {args.long_tokens} tokens)")
  return 0

if __name__ == "__main__": sys.exit(main())
