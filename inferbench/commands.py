"""The `inferbench` command: one subcommand per stage, each one call of that stage's main. The flat scripts at the
top level (llamacpp_benchmark.py, generate_plots.py, ...) are these subcommands under the names users know."""
from __future__ import annotations
import importlib, sys
from typing import Callable
from inferbench import backends

# subcommand -> (what it does, module, how to call its main with the rest of the command line)
Main = Callable[[object, list[str], str], int]

def _backend_first(command: str, kinds: tuple[str, ...], call: Callable[[object, str, list[str], str], int]) -> Main:
  """A subcommand whose first word names the backend: `inferbench bench llamacpp --size 135M`."""
  def run(mod, argv: list[str], doc: str) -> int:
    if not argv or argv[0] not in kinds:
      print(f"error: name the backend first: inferbench {command} {{{','.join(kinds)}}} [flags] (see inferbench {command} BACKEND --help)",
            file=sys.stderr)
      return 2
    return call(mod, argv[0], argv[1:], doc)
  return run

def _plot(mod, argv: list[str], doc: str) -> int:
  """`inferbench plot [main|additional] [flags]`: four of the eight plots, or all of them."""
  if argv[:1] in (["main"], ["additional"]): return mod.main(getattr(mod, argv[0].upper()), doc, argv[1:])
  return mod.main((*mod.MAIN, *mod.ADDITIONAL), doc, argv)

def _collate(mod, backend: str, argv: list[str], doc: str) -> int:
  if backend == "serving": return importlib.import_module("inferbench.serving.client").collate_main(argv)
  return mod.main(backend, argv)

COMMANDS: dict[str, tuple[str, str, Main]] = {
  "bench": ("benchmark llama.cpp, tinygrad or MLX on GGUF models, a raw log per configuration",
            "inferbench.run.bench", _backend_first("bench", backends.STEP, lambda m, b, a, d: m.main(b, a, d))),
  "load": ("measure MLC-LLM in-process or any OpenAI-compatible server (--endpoint URL) under load",
           "inferbench.run.load", lambda m, a, d: m.main(a, d)),
  "collate": ("collate a backend's raw logs into its CSV (`serving`: every server's logs)",
              "inferbench.store.collate", _backend_first("collate", (*backends.STEP, "serving"), _collate)),
  "analyze": ("statistics over runs per configuration: summary.csv, runs.csv, ratios.csv",
              "inferbench.analyse.analysis", lambda m, a, d: m.main(a, d)),
  "compare": ("A/B verdicts between two result folders, BASE and NEW: faster, slower or no detectable difference per configuration",
              "inferbench.analyse.compare", lambda m, a, d: m.main(a)),
  "plot": ("draw the eight plots into plots/ (`main` or `additional`: four of them)",
           "inferbench.report.plots", _plot),
  "pareto": ("plot a quantization sweep: decode speed against perplexity, the Pareto front marked",
             "inferbench.report.sweep_plot", lambda m, a, d: m.main(a)),
  "view": ("the summary table in the terminal, a bar per configuration",
           "inferbench.report.view", lambda m, a, d: m.main(a, d)),
  "deck": ("build presentation.pdf from the analysis and the plots (Typst, offline)",
           "inferbench.report.deck", lambda m, a, d: m.main(a, d)),
  "sweep": ("quantization sweep: each GGUF type's speed, quality against F16 and accuracy",
            "inferbench.run.sweep", lambda m, a, d: m.main(a, d)),
  "experiment": ("run an experiment file (experiments/*.yaml), resumable; --dry-run prints the plan", "inferbench.run.experiment", lambda m, a, d: m.main(a, d)),
  "limits": ("the largest context per batch size under --memory-limit, beside the boundary a memory model of the probes predicts",
             "inferbench.run.limits", lambda m, a, d: m.main(a, d)),
  "serve": ("serve GGUF models over an OpenAI-compatible API with batching (llama.cpp, or --backend torch)",
            "inferbench.serving.server", lambda m, a, d: m.main(a)),
  "fit": ("fit physical models (decode, time to first token, peak memory) to a result folder's runs, validated out of sample",
          "inferbench.decide.predict", lambda m, a, d: m.main(a, d)),
  "recommend": ("which backend, quantization and settings under your limits, ranked by --objective (--verify: measure the pick against the alternatives)",
                "inferbench.run.verify", lambda m, a, d: m.main(a, d)),
}

def usage() -> str:
  width = max(map(len, COMMANDS))
  lines = [f"  {name:<{width}}  {what}" for name, (what, _, _) in COMMANDS.items()]
  return "usage: inferbench COMMAND [flags]   (inferbench COMMAND --help for its flags)\n\ncommands:\n" + "\n".join(lines) + "\n"

def main(argv: list[str] | None = None) -> int:
  called_as_command = argv is None
  argv = sys.argv[1:] if argv is None else list(argv)
  if not argv or argv[0] in ("-h", "--help", "help"):
    print(usage(), end="")
    return 0
  if argv[0] not in COMMANDS:
    print(f"error: unknown command {argv[0]!r}: use one of {', '.join(COMMANDS)} (see inferbench --help)", file=sys.stderr)
    return 2
  what, module, call = COMMANDS[argv[0]]
  if called_as_command:  # the stage's usage and errors name the subcommand (argparse takes its prog from argv[0])
    sys.argv[0] = " ".join(["inferbench", *argv[:2 if argv[0] in ("bench", "collate") and len(argv) > 1 else 1]])
  return call(importlib.import_module(module), argv[1:], what[0].upper() + what[1:] + ".")

if __name__ == "__main__": sys.exit(main())
