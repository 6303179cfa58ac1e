"""The contract between the harness and a backend.

A backend module has `load(cfg: BackendConfig) -> Engine`. The harness tokenizes, logs and does the statistics;
the engine only runs the model and times each step:

  step 0    prefill: the whole prompt goes in, the first token comes out (time to first token)
  step 1..N decode: the previous token goes in, the next comes out

With batch B, B independent sequences (the same prompt each) go through every step together, in one call.
"""
from __future__ import annotations
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

@dataclass(frozen=True)
class BackendConfig:
  model: Path
  device: str = "cpu"        # cpu | cuda
  threads: int = 1
  ctx: int = 1024
  seed: int = 0
  temperature: float = 0.0   # 0 is greedy
  beam: int = 0              # tinygrad: BEAM search width for its kernels (0 = untuned)
  flash_attn: bool = False   # llama.cpp: flash attention
  batch: int = 1             # independent sequences decoded together, each with ctx positions of its own
  pipeline: bool = True      # MLX: queue the next step before reading this token, as mlx-lm's generate_step does
  dtype: str = ""            # MLX: the compute dtype of its floating weights and activations ("" = the backend's default)

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
