"""Continuous batching over llama.cpp's C API: up to max_batch sequences decode in one llama_decode.

Each sequence in flight owns a slot, which is its llama.cpp sequence id; the KV cache is split by sequence
(kv_unified off), so a slot's cells are freed with llama_memory_seq_rm the moment it leaves. The scheduler is one
thread with a queue and a condition variable, as in the serving design this project reproduces:

  - idle, a first request waits up to batch_timeout_s for more (the design's dynamic batching: a batch closes
    when it is full or when the timeout expires); max_batch 1 is the no-batching baseline;
  - running, a new request joins at the next step (its prompt is prefilled in the same llama_decode as the
    others' next tokens), and a finished or cancelled one leaves at once, freeing its slot and KV cells.

Prompt cache, as llama.cpp's own servers keep one: a finished sequence's slot keeps its prompt's KV cells (each
slot's cells are its own with kv_unified off, so they hold no memory another sequence could use), and a new
request goes to the free slot whose cached prompt shares the longest prefix with its own, prefilling only the
rest (at least its last token, whose logits give the first token). A cancelled sequence's cells are all freed.

Tokens go back through each request's `emit` callback, called on the scheduler thread: it must not block.
"""
from __future__ import annotations
import codecs, threading, time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
import numpy as np
from inferbench.backends.llamacpp import Tokenizer, llama_lib, load_model, offloaded_layers, sample

@dataclass(frozen=True)
class Token:
  text: str                  # the token's text; "" while it ends inside a UTF-8 sequence
  token_id: int

@dataclass(frozen=True)
class Finish:
  reason: str                # stop (end of generation) | length (max_tokens) | error
  prompt_tokens: int
  completion_tokens: int
  queue_ms: float            # submitted until admitted to a slot
  prompt_ms: float           # admitted until the first token
  predicted_ms: float        # first token until the last
  error: str | None = None
  cached_tokens: int = 0     # prompt tokens whose KV cells came from the prompt cache, not prefilled

@dataclass(eq=False)
class Request:
  prompt: list[int]
  max_tokens: int
  emit: Callable[[Token | Finish], None]
  temperature: float = 0.0
  seed: int = 0
  min_tokens: int = 0        # EOS before this many tokens is ignored
  ignore_eos: bool = False
  top_p: float = 1.0         # nucleus sampling (llamacpp.sample)
  cancelled: bool = False    # set by the server when the client went away: freed at the next step
  # scheduler state
  slot: int = -1
  pos: int = 0
  last: int = -1
  n_out: int = 0
  cached: int = 0            # prompt tokens reused from the prompt cache at admission
  t_submit: float = field(default_factory=time.perf_counter)
  t_admit: float = 0.0
  t_first: float = 0.0
  rng: object = None          # its sampler's state, seeded by seed: a numpy Generator (llama.cpp) or a torch one
  utf8: codecs.IncrementalDecoder = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))

class QueueFull(Exception):
  """The bounded queue is full: the server answers 503."""

class Scheduler:
  """What both engines share: the bounded queue, the scheduler thread, the dynamic batching wait, the slots and each
  request's way out (its tokens' text, UTF-8-safe, and its Finish). An engine gives _admit (under self.cond: which
  queued requests enter their slots now) and _step (one forward over every sequence in flight)."""
  def __init__(self, tokenizer: Tokenizer, max_batch: int, ctx_per_seq: int, batch_timeout_s: float, max_queue: int):
    self.tokenizer, self.n_vocab = tokenizer, tokenizer.lib.llama_vocab_n_tokens(tokenizer.vocab)
    self.max_batch, self.ctx_per_seq, self.batch_timeout_s, self.max_queue = max_batch, ctx_per_seq, batch_timeout_s, max_queue
    self.slots: list[Request | None] = [None] * max_batch
    self.queue: deque[Request] = deque()
    self.cond = threading.Condition()
    self.stopping = False
    self.n_steps = 0
    self.thread = threading.Thread(target=self._loop, name="batch-scheduler", daemon=True)
    self.thread.start()

  def submit(self, req: Request):
    if len(req.prompt) + req.max_tokens > self.ctx_per_seq:
      raise ValueError(f"prompt ({len(req.prompt)} tokens) + max_tokens ({req.max_tokens}) exceed the context of {self.ctx_per_seq} per sequence")
    with self.cond:
      if len(self.queue) >= self.max_queue: raise QueueFull(f"{len(self.queue)} requests queued (--max-queue {self.max_queue})")
      self.queue.append(req)
      self.cond.notify()

  def cancel(self, req: Request):
    """The client went away: a queued request is dropped now, a running one leaves at the next step."""
    with self.cond:
      req.cancelled = True
      if req in self.queue: self.queue.remove(req)

  def stats(self) -> dict:
    with self.cond: return {"active": sum(s is not None for s in self.slots), "queued": len(self.queue), "steps": self.n_steps}

  def close(self):
    with self.cond:
      self.stopping = True
      self.cond.notify()
    self.thread.join()
    for r in [*self.queue, *(s for s in self.slots if s)]: r.emit(self._finish(r, "error", "the server is shutting down"))

  def _loop(self):
    while True:
      with self.cond:
        while not self.stopping and not self.queue and not any(self.slots): self.cond.wait()
        if self.stopping: return
        if not any(self.slots) and self.batch_timeout_s > 0:  # idle: the batch closes when full or when the timeout expires
          close_at = self.queue[0].t_submit + self.batch_timeout_s
          while not self.stopping and len(self.queue) < self.max_batch and (left := close_at - time.perf_counter()) > 0: self.cond.wait(left)
        admitted = self._admit()
      try:
        for r in [s for s in self.slots if s and s.cancelled]: self._leave(r, None)
        self._step(admitted)
      except Exception as e:  # noqa: BLE001 - every sequence in flight is told, and the engine goes on empty
        for r in [s for s in self.slots if s]: self._leave(r, "error", f"{type(e).__name__}: {e}")

  def _admit(self) -> list[Request]: raise NotImplementedError
  def _step(self, admitted: list[Request]): raise NotImplementedError

  def _sampled(self, r: Request, token: int):
    """r's next token: EOS ends it (unless ignored, or before min_tokens), else its text goes out; max_tokens ends it."""
    if self.tokenizer.is_eog(token) and not r.ignore_eos and r.n_out >= r.min_tokens:
      return self._leave(r, "stop")
    r.last, r.n_out = token, r.n_out + 1
    if r.n_out == 1: r.t_first = time.perf_counter()
    r.emit(Token(r.utf8.decode(self.tokenizer.piece(token)), token))
    if r.n_out >= r.max_tokens: self._leave(r, "length")

  def _leave(self, r: Request, reason: str | None, error: str | None = None):
    """Frees the slot; tells the client why, unless it went away (reason None)."""
    with self.cond: self.slots[r.slot] = None
    if reason:
      if tail := r.utf8.decode(b"", final=True): r.emit(Token(tail, -1))
      r.emit(self._finish(r, reason, error))

  def _finish(self, r: Request, reason: str, error: str | None = None) -> Finish:
    now, ms = time.perf_counter(), lambda a, b: round(max(0.0, b - a) * 1e3, 3) if a else 0.0
    return Finish(reason, len(r.prompt), r.n_out, ms(r.t_submit, r.t_admit or now), ms(r.t_admit, r.t_first or now),
                  ms(r.t_first, now), error, r.cached)

class BatchEngine(Scheduler):
  def __init__(self, model: Path, tokenizer: Tokenizer, max_batch: int, ctx_per_seq: int, threads: int, batch_timeout_s: float, max_queue: int,
               flash_attn: bool = False, device: str = "cpu"):
    lib = self.lib = llama_lib()
    self.model = load_model(model, n_gpu_layers=offloaded_layers(device))
    params = lib.llama_context_default_params()
    params.n_seq_max, params.kv_unified = max_batch, False  # one KV stream per sequence: freeing a slot frees its cells
    params.n_ctx = ctx_per_seq * max_batch
    # one step holds every running sequence's next token plus at least one whole prompt
    params.n_batch = params.n_ubatch = self.n_batch = ctx_per_seq + max_batch
    params.n_threads = params.n_threads_batch = threads
    params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn else lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
    self.ctx = lib.llama_init_from_model(self.model, params)
    if not self.ctx: raise RuntimeError(f"llama.cpp could not create a context of {max_batch} x {ctx_per_seq} tokens: lower --ctx or --max-batch")
    self.mem = lib.llama_get_memory(self.ctx)
    self.batch = lib.llama_batch_init(self.n_batch, 0, 1)
    self.cached: list[list[int]] = [[] for _ in range(max_batch)]  # per free slot: the prompt whose KV cells it kept
    super().__init__(tokenizer, max_batch, lib.llama_n_ctx_seq(self.ctx), batch_timeout_s, max_queue)  # llama.cpp pads ctx to a multiple of 256

  def close(self):
    super().close()
    self.lib.llama_batch_free(self.batch)
    self.lib.llama_free(self.ctx)
    self.lib.llama_model_free(self.model)

  def _admit(self) -> list[Request]:
    """Moves queued requests into free slots while the step's token budget allows (under self.cond)."""
    budget = self.n_batch - sum(1 for s in self.slots if s)
    admitted = []
    while self.queue and None in self.slots:
      r = self.queue[0]
      if r.cancelled: self.queue.popleft(); continue
      keep, slot = max((min(common_prefix(self.cached[i], r.prompt), len(r.prompt) - 1), i) for i, s in enumerate(self.slots) if s is None)
      if len(r.prompt) - keep > budget: break
      self.queue.popleft()
      self.lib.llama_memory_seq_rm(self.mem, slot, keep, -1)
      r.slot, r.pos, r.cached, r.t_admit, r.rng = slot, keep, keep, time.perf_counter(), np.random.default_rng(r.seed)
      self.slots[slot], self.cached[slot] = r, []
      budget -= len(r.prompt) - keep
      admitted.append(r)
    return admitted

  def _step(self, admitted: list[Request]):
    """One llama_decode over every sequence in flight: prompts of the newly admitted, the last token of the others."""
    b, n, outs = self.batch, 0, []
    for r in (s for s in self.slots if s):
      ids = r.prompt[r.pos:] if r in admitted else [r.last]
      for i, t in enumerate(ids):
        b.token[n], b.pos[n], b.n_seq_id[n], b.seq_id[n][0], b.logits[n] = t, r.pos + i, 1, r.slot, i == len(ids) - 1
        n += 1
      r.pos += len(ids)
      outs.append((r, n - 1))
    if not n: return
    b.n_tokens = n
    if rc := self.lib.llama_decode(self.ctx, b): raise RuntimeError(f"llama_decode failed with code {rc}")
    self.n_steps += 1
    for r, i in outs:
      self._sampled(r, sample(np.ctypeslib.as_array(self.lib.llama_get_logits_ith(self.ctx, i), shape=(1, self.n_vocab)), r.temperature, r.rng, r.top_p)[0])

  def _leave(self, r: Request, reason: str | None, error: str | None = None):
    """Frees the KV cells too, but for its prompt's after a normal finish (the prompt cache)."""
    keep = len(r.prompt) if reason in ("stop", "length") else 0
    self.lib.llama_memory_seq_rm(self.mem, r.slot, keep, -1)
    with self.cond: self.cached[r.slot] = r.prompt[:keep]  # before the slot is free: _admit reads it under the lock
    super()._leave(r, reason, error)

def common_prefix(a: list[int], b: list[int]) -> int: return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
