"""The contract between the harness and a backend.

A backend module has `load(cfg: RunConfig, model: Path) -> Engine` and a `Knobs` dataclass: the settings of its own
that a user chooses (llama.cpp's flash attention, tinygrad's BEAM width), each a flag of its benchmark command and
part of the configuration (RunConfig.knobs). The harness tokenizes, logs and does the statistics; the engine only
runs the model and times each step:

  step 0    prefill: the whole prompt goes in, the first token comes out (time to first token)
  step 1..N decode: the previous token goes in, the next comes out

With batch B, B independent sequences (the same prompt each) go through every step together, in one call.
"""
from __future__ import annotations
from dataclasses import dataclass, field, fields
from typing import Iterator, Protocol

def knob(default, help: str, choices: tuple = (), later: bool = False):
  """A field of a backend's Knobs: its default, its flag's help and, for text, the values it takes (a bool is on|off).
  later: added after logs were written without it, so a configuration leaves it out at its default (they still resume)."""
  return field(default=default, metadata={"help": help, "choices": choices, "later": later})

@dataclass(frozen=True)
class NoKnobs:
  """A backend with no settings of its own."""

def knob_values(knobs_cls) -> list[dict]:
  """The knobs' fields, each with its flag spelling: [{"name", "flag", "default", "choices", "help", "parse"}]."""
  out = []
  for f in fields(knobs_cls):
    kind = type(f.default)
    choices = ("off", "on") if kind is bool else f.metadata["choices"]
    parse = (lambda s: s == "on") if kind is bool else kind  # from the flag's text (an int flag is parsed already)
    spelled = ("on" if f.default else "off") if kind is bool else str(f.default)
    out.append({"name": f.name, "flag": "--" + f.name.replace("_", "-"), "default": spelled, "choices": choices, "help": f.metadata["help"],
                "parse": parse, "kind": kind, "later": f.metadata.get("later", False), "default_value": f.default})
  return out

@dataclass(frozen=True)
class Step:
  token_id: int
  n_tokens: int              # tokens that went in: batch x the prompt length at prefill, batch when decoding
  enqueue_s: float           # until the backend's call returned, before waiting for the device
  total_s: float             # until the token was known on the host
  bytes_read: int | None = None  # from the backend's own counters, where it keeps them
  token_ids: tuple[int, ...] = ()  # batch > 1: every sequence's token (token_id is the first sequence's)

class Engine(Protocol):
  version: str               # the backend package's version
  device_name: str           # what actually ran it, e.g. "CPU" or "CUDA"
  info: dict                 # extra header keys: load and compile times, settings that matter
  knobs: dict                # the settings a user chose that can change speed, e.g. {"flash_attn": "on"}: part of the configuration

  def generate(self, prompt_ids: list[int], n_decode: int) -> Iterator[Step]:
    """One fresh run (empty KV cache): prefill, then n_decode decode steps. EOS is ignored so runs compare."""
  def run_totals(self) -> dict:
    """The backend's own account of the last run (e.g. llama.cpp's perf counters), for checking the harness."""
