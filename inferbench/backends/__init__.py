"""Backends: one module each, behind the small contract in base.py, picked by name from a plain dict."""
import importlib
from types import ModuleType

BACKENDS = {
  "llamacpp": "inferbench.backends.llamacpp",
  "tinygrad": "inferbench.backends.tinygrad",
  "mlx": "inferbench.backends.mlx",
  "mlc": "inferbench.backends.mlc",            # streaming engines (serving.py), not the step contract of base.py
  "endpoint": "inferbench.backends.endpoint",
}

def get(name: str) -> ModuleType:
  if name not in BACKENDS: raise ValueError(f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}")
  return importlib.import_module(BACKENDS[name])
