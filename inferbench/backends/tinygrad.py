"""tinygrad through tinygrad.llm: the model and its JIT exactly as `python -m tinygrad.llm` runs them.

Device, threads and BEAM are environment variables read when tinygrad is imported, so the worker sets them
(see `environment`) before this module imports tinygrad. Sampling stays inside tinygrad's jitted graph (its own
Gumbel-max argmax), as in tinygrad's own generate loop; at temperature 0 that is the greedy argmax.
"""
from __future__ import annotations
import os, time
from typing import Iterator
from dataclasses import dataclass
from pathlib import Path
from inferbench.backends.base import Step, knob
from inferbench.core.config import RunConfig

PREFILL_CHUNK = 32  # tinygrad.llm's generate() feeds the prompt in chunks of this many tokens
MAX_BATCH = 256     # tinygrad.llm's Transformer takes (batch, tokens) and sizes its KV cache by the first call's batch

@dataclass(frozen=True)
class Knobs:
  beam: int = knob(0, "BEAM search width for the kernels the JIT captures (JITBEAM; 0: untuned)")

def environment(cfg: RunConfig) -> dict[str, str]:
  env = {"DEV": "CUDA" if cfg.device == "cuda" else "CPU", "CPU_COUNT": str(cfg.threads)}
  if beam := Knobs(**cfg.knobs).beam: env["JITBEAM"] = str(beam)  # BEAM-search the kernels the JIT captures
  # tinygrad 0.13's CUDA graphs fail on the H100 machine's CUDA 13 driver (580.159.04): cuGraphAddKernelNode returns
  # "invalid argument" for every model. JIT=2 replays the captured kernels one launch at a time instead, which costs
  # launch overhead per kernel. Set JIT in the environment to override (JIT=1: graphs).
  if cfg.device == "cuda" and "JIT" not in os.environ: env["JIT"] = "2"
  return env

class TinygradEngine:
  def __init__(self, cfg: RunConfig, model: Path):
    beam = Knobs(**cfg.knobs).beam
    from tinygrad import Device, Tensor
    from tinygrad.helpers import CACHEDB, CACHELEVEL
    from tinygrad.llm.model import Transformer
    from importlib.metadata import version
    self.version = version("tinygrad")
    Tensor.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    self.model, _ = Transformer.from_gguf(model, max_context=cfg.ctx)
    self.device_name = Device.DEFAULT
    self.temperature, self.n_seq = cfg.temperature, cfg.batch
    load_s = time.perf_counter() - t0
    # TinyJit runs a function plainly on its first call, captures it on the second and replays from the third:
    # three short runs leave both the prefill and the decode JIT captured (and BEAM-searched, with --beam).
    t0 = time.perf_counter()
    for _ in range(3): list(self.generate([0, 0], 3))
    # compile_seconds holds the JIT captures, kernel compiles and, with --beam, the BEAM search of every kernel; a
    # search's result is kept in tinygrad's cache db, so a second run with the same kernels and device skips it.
    self.knobs = {"beam": beam, "jit": os.environ.get("JIT", "1")}
    self.info = {"load_seconds": round(load_s, 3), "compile_seconds": round(time.perf_counter() - t0, 3),
                 "tinygrad.beam": beam, "tinygrad.jit": os.environ.get("JIT", "1"), "tinygrad.prefill_chunk": PREFILL_CHUNK,
                 "tinygrad.cache_db": CACHEDB if CACHELEVEL.value >= 1 else "off (CACHELEVEL=0)",
                 # tinygrad.llm keeps quantized weights packed and unpacks them inside every step's kernels, unless
                 # REALIZE=1 unpacks them once at load: so its Q4_K_M reads Q4_K_M bytes, and pays the unpacking per token
                 "tinygrad.weights": "unpacked once at load (REALIZE=1)" if os.environ.get("REALIZE", "0") not in ("", "0")
                                     else "kept as stored in the GGUF, unpacked in every step's kernels"}

  def generate(self, prompt_ids: list[int], n_decode: int) -> Iterator[Step]:
    from tinygrad import Tensor, UOp, GlobalCounters
    if len(prompt_ids) + n_decode > self.model.max_context:
      raise ValueError(f"prompt ({len(prompt_ids)}) + {n_decode} tokens exceed the context of {self.model.max_context}: raise --ctx")
    # the same symbolic variables as tinygrad.llm's generate(), so its JIT is reused across positions and runs
    v_pos, v_toks = UOp.variable("start_pos", 0, self.model.max_context - 1), UOp.variable("toks", 1, PREFILL_CHUNK)
    temp = Tensor(self.temperature).contiguous()
    toks = Tensor([prompt_ids + [0] * (self.model.max_context - len(prompt_ids))] * self.n_seq, dtype="int32").realize()
    GlobalCounters.reset()
    t0 = time.perf_counter()
    pos = 0
    while pos < len(prompt_ids):
      n = min(PREFILL_CHUNK, len(prompt_ids) - pos)
      sp = v_pos.bind(pos)
      out = self.model(toks[:, sp:sp + v_toks.bind(n)], sp, temp).realize()
      pos += n
    t1 = time.perf_counter()
    tokens = [t for (t,) in out.tolist()]  # (batch, 1): each sequence's next token
    yield Step(tokens[0], len(prompt_ids) * self.n_seq, t1 - t0, time.perf_counter() - t0, GlobalCounters.global_mem, tuple(tokens))
    for _ in range(n_decode):
      GlobalCounters.reset()
      t0 = time.perf_counter()
      out = self.model(out, v_pos.bind(pos), temp).realize()
      t1 = time.perf_counter()
      tokens = [t for (t,) in out.tolist()]
      yield Step(tokens[0], self.n_seq, t1 - t0, time.perf_counter() - t0, GlobalCounters.global_mem, tuple(tokens))
      pos += 1

  def run_totals(self) -> dict: return {}

def load(cfg: RunConfig, model: Path) -> TinygradEngine: return TinygradEngine(cfg, model)
