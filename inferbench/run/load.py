"""The load-client command (mlc_benchmark.py, `inferbench load`): MLC in-process or any OpenAI-compatible server,
every configuration's raw log written as it runs, then the summary table."""
from __future__ import annotations
import argparse, sys
from inferbench.backends import endpoint, mlc
from inferbench.backends.endpoint import EndpointError
from inferbench.core import formats
from inferbench.run.local import run_all
from inferbench.serving.client import parser, plan, run_one
from inferbench.store.rawlog import parse

def main(argv: list[str] | None = None, doc: str | None = None) -> int: return run(parser(doc).parse_args(argv))

def run(args: argparse.Namespace) -> int:
  """Every configuration the flags name, against the endpoint (or MLC in-process); 2 for bad flags, 1 if any failed."""
  engine, load_error = None, None
  try:
    if args.endpoint:
      ecfg = endpoint.EndpointConfig(args.endpoint, args.api_key_env, args.stall_timeout, args.request_timeout)
      try: engine = endpoint.load(ecfg, args.server_name)
      except EndpointError as e:  # each configuration's log records it, with the key scrubbed all the same
        load_error, engine = str(e), endpoint.EndpointEngine(ecfg, endpoint.secret(ecfg), args.server_name or "endpoint")
      if args.served_model: engine.models = [args.served_model]
      backend = engine.server_name
    else:
      mlc.check()
      backend = "mlc"
    if not backend.replace("_", "").isalnum() or not backend.islower(): raise ValueError(f"--server-name {backend!r}: use lowercase letters, digits and _")
    configs = plan(args, backend)
  except (formats.ModelError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  done = run_all(configs, args.output_dir, lambda cfg, path: run_one(cfg, path, engine, load_error))
  if mismatched := [d for d in done if d["status"] == "ok" and any(r.get("tokens_match") is False for r in parse(d["log"]).runs)]:
    print(f"warning: {len(mismatched)} configuration(s) streamed a different number of token chunks than the server's usage counts: "
          "their inter-token gaps are gaps between chunks", file=sys.stderr)
  print(f"collate with: python mlc_collate.py -d {args.output_dir}", file=sys.stderr)
  return 0 if all(d["status"] == "ok" for d in done) else 1
