"""Backends: one module each, behind the small contract in base.py, picked by name from a plain dict. Adding one is
a module here and its line below: the commands, experiment files and the analysis take their lists from this dict."""
import importlib
from types import ModuleType

# name -> (module, contract): "step" backends time each step in a worker (base.py, `inferbench bench`); "stream"
# engines serve requests to the load client (serving/client.py, `inferbench load`)
BACKENDS = {
  "llamacpp": ("inferbench.backends.llamacpp", "step"),
  "tinygrad": ("inferbench.backends.tinygrad", "step"),
  "mlx": ("inferbench.backends.mlx", "step"),
  "torch": ("inferbench.backends.pytorch", "step"),  # a module named torch would shadow the package it imports
  "mlc": ("inferbench.backends.mlc", "stream"),
  "endpoint": ("inferbench.backends.endpoint", "stream"),  # any OpenAI-compatible server: its logs take the server's name
}
STEP = tuple(name for name, (_, contract) in BACKENDS.items() if contract == "step")

def get(name: str) -> ModuleType:
  if name not in BACKENDS: raise ValueError(f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}")
  return importlib.import_module(BACKENDS[name][0])
