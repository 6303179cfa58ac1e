"""llama.cpp in-process, through llama-cpp-python's C API bindings.

The bindings' high-level `Llama` class copies every logit row into Python on each step; calling llama_decode and
reading the last logits row in place keeps the harness within a few percent of llama.cpp's own timers, which
run_totals() reports so each run can be checked against them.

libllama must be loaded before numpy: on the H100 machine (Python 3.12, numpy 2.5.2) llama.cpp's BPE tokenizer
segfaulted inside std::regex whenever numpy had been imported first (seen 2026-11-22, cause not established), so
the runner and the worker import llama_cpp.llama_cpp before anything imports numpy. The same process must not
import torch after it ("free(): invalid pointer"), so the bandwidth measurement runs in its own process.
"""
from __future__ import annotations
import ctypes, functools, hashlib, os, re, shutil, subprocess, sys, time
from collections import deque
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Callable, Iterator
import numpy as np
from numpy.random import Generator, default_rng  # imported now: numpy loads it lazily, which under a memory limit can fail
from inferbench.core import memory, files, metadata
from dataclasses import dataclass
from inferbench.backends.base import Step, knob
from inferbench.core.config import RunConfig

@dataclass(frozen=True)
class Knobs:
  flash_attn: bool = knob(False, "flash attention")
  split_mode: str = knob("none", "how llama.cpp spreads the model over --gpus GPUs: none (one GPU), by layer, or by row", ("none", "layer", "row"), later=True)
  gpus: int = knob(1, "GPUs the model is split over (evenly: llama.cpp's tensor_split), with --split-mode layer|row", later=True)

SPLIT_MODES = {"none": "LLAMA_SPLIT_MODE_NONE", "layer": "LLAMA_SPLIT_MODE_LAYER", "row": "LLAMA_SPLIT_MODE_ROW"}

def check_gpus(cfg: RunConfig, gpus_visible: int):
  """Refuses a split over GPUs that this run cannot have, before anything runs: on the CPU, or with fewer GPUs visible."""
  knobs = Knobs(**cfg.knobs)
  if knobs.gpus < 1: raise ValueError(f"--gpus {knobs.gpus}: a model runs on at least 1 GPU")
  if knobs.split_mode == "none" and knobs.gpus > 1:
    raise ValueError(f"--gpus {knobs.gpus} with --split-mode none: llama.cpp uses one GPU then; pass --split-mode layer|row to split over {knobs.gpus}")
  if knobs.split_mode != "none" and (cfg.device != "cuda" or gpus_visible < knobs.gpus):
    raise ValueError(f"--split-mode {knobs.split_mode} needs GPUs (--gpus {knobs.gpus}), and this run " +
                     ("is on the CPU" if cfg.device != "cuda" else f"sees {gpus_visible}") + ": run it on a host with that many, or drop --split-mode")

UBATCH = 512  # tokens llama.cpp computes at once (its default): bounds the compute buffer, which a prompt-sized
             # micro-batch would grow with ctx x ctx attention scores
MAX_BATCH = 256  # LLAMA_MAX_SEQ: the most sequence ids one llama.cpp context holds
KV_PAD = 256     # llama.cpp rounds each sequence's KV cache up to a multiple of this many cells (ctx 272 holds 512)
LOG: deque[tuple[bool, str]] = deque(maxlen=200)  # llama.cpp's recent log lines, each with whether it is an error: why a load or allocation failed
REPORTING = [0]  # blocks running whose failure message carries llama.cpp's errors (log_errors): those are not echoed meanwhile
BUFFERS: list[str] = []              # its buffer-size lines since the last clear (a model's load logs hundreds of lines)
BUFFER = re.compile(r"(\S+)\s+(model|KV|compute|output) buffer size =\s*([0-9.]+) MiB")
CAPTURES: list[list[str]] = []       # the lists captured_log() is filling

@contextmanager
def captured_log() -> Iterator[list[str]]:
  """Every line llama.cpp logs while the block runs (its quantizer warns of each fallback tensor there)."""
  lines: list[str] = []
  CAPTURES.append(lines)
  try: yield lines
  finally: CAPTURES.remove(lines)

@functools.cache
def llama_lib():
  """llama-cpp-python's C API, initialized once. llama.cpp's log is kept in LOG (it reports its buffer sizes there);
  only its errors reach stderr, and only outside a block whose own error message carries them (reported())."""
  import llama_cpp
  error = [False]  # whether the last line was an error: a continuation line belongs to it
  @llama_cpp.llama_log_callback
  def tap(level: int, text: bytes, _):
    line = text.decode("utf-8", errors="replace")
    error[0] = level == 4 or (level == 5 and error[0])  # ggml_log_level: 4 ERROR, 5 CONT(inues the last line)
    LOG.append((error[0], line))
    for c in CAPTURES: c.append(line)
    if "buffer size" in line: BUFFERS.append(line)
    if error[0] and not REPORTING[0]: sys.stderr.write(line)
  # ggml aborts the process on a failed assertion (e.g. a buffer it could not allocate); its abort callback runs
  # first, so the harness can say why before the process ends
  @ctypes.CFUNCTYPE(None, ctypes.c_char_p)
  def on_abort(message: bytes):
    memory.release_reserve()  # out of memory, formatting the reason needs some
    where_what = re.sub(r"\S*/(\S+:\d+:)", r"\1", message.decode(errors="replace"))  # the source file, not the build folder
    reason = f"llama.cpp aborted: {where_what} ({log_errors()})"
    sys.stderr.write(reason + "\n")
    for hook in FATAL_HOOKS: hook(reason)
  # by soname: the copy libllama itself loaded (its lib/libggml-base.so path maps a second copy, never called)
  ggml = ctypes.CDLL("libggml-base.so.0")
  ggml.ggml_set_abort_callback.restype = ggml.ggml_set_abort_callback.argtypes = None
  ggml.ggml_set_abort_callback(on_abort)
  llama_lib.callbacks = (tap, on_abort)  # ctypes calls them for the life of the process: keep them referenced
  llama_cpp.llama_log_set(tap, ctypes.c_void_p(0))
  llama_cpp.llama_backend_init()
  return llama_cpp

FATAL_HOOKS: list[Callable[[str], None]] = []  # called with the reason before llama.cpp aborts the process

def on_fatal(hook: Callable[[str], None]): FATAL_HOOKS.append(hook)

def buffer_bytes(lines) -> dict[str, int]:
  """What llama.cpp said it allocated, per kind (model, KV, compute, output), summed over devices."""
  out: dict[str, int] = {}
  for m in BUFFER.finditer("".join(lines)): out[m.group(2).lower()] = out.get(m.group(2).lower(), 0) + int(float(m.group(3)) * 2**20)
  return out

HELPERS_C = Path(__file__).with_name("llamacpp_decode.c")

def compiler() -> str: return os.environ.get("CC") or shutil.which("cc") or shutil.which("clang") or "cc"  # setup.sh installs clang

def compile_c(source: Path, name: str, shared: bool = True) -> Path:
  """source compiled and linked against the libllama this process loaded, with the headers its wheel installs (in
  site-packages/include), once per source, header and library: cached beside the models. Raises OSError, why."""
  lib = llama_lib()
  from llama_cpp import llama_cpp
  libdir = Path(llama_cpp._lib._name).resolve().parent
  header = Path(lib.__file__).parents[1] / "include" / "llama.h"
  if not header.exists(): raise OSError(f"no {header} to compile {source.name} with")
  key = hashlib.sha256(b"".join(f.read_bytes() for f in (source, HELPERS_C, header)) + str(libdir).encode()).hexdigest()[:16]
  out = files.CACHE / "build" / f"{name}-{key}{'.so' if shared else ''}"
  if out.exists(): return out
  out.parent.mkdir(parents=True, exist_ok=True)
  tmp, cc = out.with_name(f"{out.name}.{os.getpid()}.tmp"), compiler()
  try:
    subprocess.run([cc, "-O2", *(["-shared", "-fPIC"] if shared else []), f"-I{header.parent}", f"-I{HELPERS_C.parent}", str(source),
                    f"-L{libdir}", "-lllama", "-lggml-cpu", "-lggml-base", f"-Wl,-rpath,{libdir}", "-o", str(tmp)], check=True, capture_output=True, text=True)
  except subprocess.CalledProcessError as e:
    raise OSError(f"{cc} could not compile {source.name}: {(e.stderr.strip().splitlines() or ['no message'])[0]}") from None
  except OSError as e: raise OSError(f"{cc} could not compile {source.name}: {e.strerror}") from None
  os.replace(tmp, out)  # atomically: another worker may be compiling the same file
  return out

@functools.cache
def c_helpers() -> tuple[ctypes.CDLL | None, str]:
  """llamacpp_decode.c loaded, and what runs the decode steps: "C", or None and why the Python loop runs instead."""
  try: c = ctypes.CDLL(str(compile_c(HELPERS_C, "llamacpp_decode")))
  except OSError as e: return None, f"python loop ({e})"
  i32, f64 = (np.ctypeslib.ndpointer(t, flags="C_CONTIGUOUS") for t in (np.int32, np.float64))  # numpy arrays, checked
  c.inferbench_decode.argtypes = [ctypes.c_void_p, llama_lib().llama_batch, ctypes.c_int32, i32, ctypes.c_int32, ctypes.c_int32, i32, f64, f64,
                                  ctypes.POINTER(ctypes.c_int32)]
  c.inferbench_decode.restype = ctypes.c_int32
  c.inferbench_attach_threadpool.argtypes, c.inferbench_attach_threadpool.restype = [ctypes.c_void_p, ctypes.c_int32], ctypes.c_void_p
  return c, f"C ({HELPERS_C.name}, {compiler()})"

def prepare(): c_helpers()  # before a memory limit holds: the compiler is harness work

def log_errors() -> str:
  """llama.cpp's recent error lines, for an exception's message (an out-of-memory failure is only said there)."""
  return " ".join(l.strip() for error, l in LOG if error or re.search(r"fail|error|insufficient|out of memory|bad_alloc", l, re.I))[-300:]

@contextmanager
def reported() -> Iterator[None]:
  """A block whose failure raises with log_errors() in its message: llama.cpp's error lines are not echoed
  meanwhile, so a bad file is one line (the project's), not llama.cpp's three before it."""
  REPORTING[0] += 1
  try: yield
  finally: REPORTING[0] -= 1

def environment(cfg) -> dict[str, str]:
  # a native crash (e.g. std::bad_alloc under a memory limit) otherwise attaches gdb to print a backtrace: seconds of
  # output that bury the one line saying why
  return {"GGML_NO_BACKTRACE": "1"}

def offloaded_layers(device: str) -> int:
  """n_gpu_layers for a device: every layer on cuda (refused where this llama-cpp-python has no CUDA: llama.cpp would
  quietly run on the CPU instead), none on the CPU."""
  if device != "cuda": return 0
  if not llama_lib().llama_supports_gpu_offload():
    raise RuntimeError("this llama-cpp-python was built without CUDA: rebuild it with deps/build_llamacpp_cuda.sh, or use --device cpu")
  return -1

def load_model(path: Path, n_gpu_layers: int = 0, vocab_only: bool = False, split_mode: str = "none", gpus: int = 1):
  lib = llama_lib()
  params = lib.llama_model_default_params()
  params.n_gpu_layers, params.vocab_only = n_gpu_layers, vocab_only
  params.split_mode = getattr(lib, SPLIT_MODES[split_mode])
  if gpus > 1: params.tensor_split = (ctypes.c_float * lib.llama_max_devices())(*[1.0] * gpus)  # even shares; kept alive by params
  LOG.clear()  # the reason below is this load's
  with reported(): model = lib.llama_model_load_from_file(str(path).encode(), params)
  cause = next((l.strip() for error, l in LOG if error), "") or log_errors() or "no reason logged"  # the first error: the rest follow from it
  if not model: raise ValueError(f"llama.cpp could not load {path} ({cause}): is it a complete GGUF of an architecture llama.cpp knows, "
                                 "and is there memory for it?")
  return model

class Tokenizer:
  """The model's own tokenizer, as llama.cpp implements it (tinygrad's rejects some pre-tokenizers, e.g. SmolLM2's).
  Both backends are given the token ids this produces."""
  def __init__(self, path: Path):
    self.lib = llama_lib()
    self.model = load_model(path, vocab_only=True)
    self.vocab = self.lib.llama_model_get_vocab(self.model)
    self._piece = ctypes.create_string_buffer(256)  # a token's text: llama.cpp's longest pieces are far shorter

  def piece(self, token: int) -> bytes:
    """One token's bytes, as streamed: a piece may end inside a UTF-8 sequence."""
    n = self.lib.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece), 0, False)
    return self._piece.raw[:max(n, 0)]

  def is_eog(self, token: int) -> bool: return bool(self.lib.llama_vocab_is_eog(self.vocab, token))

  def encode(self, text: str, special: bool = False) -> list[int]:
    """special: control tokens written as text (a chat template's <|im_start|>) become those tokens."""
    raw = text.encode()
    buf = (self.lib.llama_token * (len(raw) + 8))()
    n = self.lib.llama_tokenize(self.vocab, raw, len(raw), buf, len(buf), True, special)
    assert n >= 0, f"tokenizer needed {-n} slots"
    return list(buf[:n])

  def decode(self, ids: list[int]) -> str:
    toks = (self.lib.llama_token * len(ids))(*ids)
    size = 16 * len(ids) + 16
    while True:
      buf = ctypes.create_string_buffer(size)
      n = self.lib.llama_detokenize(self.vocab, toks, len(ids), buf, size, True, False)
      if n >= 0: return buf.raw[:n].decode(errors="replace")
      size = -n + 1

  def __del__(self):
    if getattr(self, "model", None): self.lib.llama_model_free(self.model)

class LlamaCppEngine:
  def __init__(self, cfg: RunConfig, model: Path):
    knobs = Knobs(**cfg.knobs)
    lib = self.lib = llama_lib()
    self.version = version("llama_cpp_python")
    t0 = time.perf_counter()
    LOG.clear(); BUFFERS.clear()
    check_gpus(cfg, metadata.gpu_count())  # a fleet node's worker, too: it runs where the planner did not look
    self.model = load_model(model, n_gpu_layers=offloaded_layers(cfg.device), split_mode=knobs.split_mode, gpus=knobs.gpus)
    params = lib.llama_context_default_params()
    # batch B: B sequences of cfg.ctx positions each, every sequence its own part of the KV cache (not unified)
    params.n_ctx = params.n_batch = cfg.ctx * cfg.batch  # all B prompts in one llama_decode
    params.n_ubatch = min(params.n_batch, UBATCH)
    params.n_seq_max, params.kv_unified = cfg.batch, False
    params.n_threads = params.n_threads_batch = cfg.threads
    params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_ENABLED if knobs.flash_attn else lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
    params.no_perf = False
    # --device cpu on a CUDA build: its defaults would still put the KV cache and large matmuls (op offload) on the GPU
    if cfg.device != "cuda": params.offload_kqv = params.op_offload = False
    # greedy: llama.cpp's backend sampler picks the token inside its graph, where the logits are, and only the token
    # comes back: no copy of the vocabulary's logits to Python and no argmax there
    self.backend_sampled = cfg.temperature <= 0
    self.c, loop = c_helpers()
    if not self.backend_sampled: loop = "python loop (sampling with temperature)"
    if self.backend_sampled and not self.c: print(f"warning: llama.cpp's decode steps run in a {loop}, without llama-bench's threadpool: install a C compiler (deps/setup.sh installs clang) for its C loop", file=sys.stderr)
    if self.backend_sampled:
      self.chains = [lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params()) for _ in range(cfg.batch)]
      for c in self.chains: lib.llama_sampler_chain_add(c, lib.llama_sampler_init_greedy())
      self.seq_samplers = (lib.llama_sampler_seq_config * cfg.batch)(*(lib.llama_sampler_seq_config(s, ctypes.cast(c, ctypes.c_void_p)) for s, c in enumerate(self.chains)))
      params.samplers, params.n_samplers = ctypes.cast(self.seq_samplers, ctypes.POINTER(lib.llama_sampler_seq_config)), cfg.batch
    with reported(): self.ctx = lib.llama_init_from_model(self.model, params)
    if not self.ctx:
      raise RuntimeError(f"llama.cpp could not create a context of {cfg.batch} x {cfg.ctx} tokens ({log_errors() or 'no reason logged'}): lower --ctx or --batch")
    if self.c and not self.c.inferbench_attach_threadpool(self.ctx, cfg.threads): raise RuntimeError(f"ggml could not make a threadpool of {cfg.threads} threads: lower --threads")
    self.decode_in_c = bool(self.c) and self.backend_sampled
    self.n_ctx, self.n_seq, self.prompt_len = cfg.ctx, cfg.batch, 0
    self.n_vocab = lib.llama_vocab_n_tokens(lib.llama_model_get_vocab(self.model))
    self.batch = lib.llama_batch_init(cfg.ctx * cfg.batch, 0, 1)
    # numpy views of the batch's arrays and of the logits: a step writes and reads them without a Python loop or a
    # new ctypes array type (tens of microseconds: on the H100 the 1B F16 went from 0.954 to 0.969 of llama-bench)
    size = cfg.ctx * cfg.batch
    self.b_token, self.b_pos, self.b_logits = (np.ctypeslib.as_array(a, (size,)) for a in (self.batch.token, self.batch.pos, self.batch.logits))
    self.b_n_seq_id = np.ctypeslib.as_array(self.batch.n_seq_id, (size,))
    for j in range(size): self.batch.seq_id[j][0] = 0
    self.logits_at, self.logits = None, None
    self.temperature, self.rng = cfg.temperature, default_rng(cfg.seed)
    self.device_name = "CUDA" if cfg.device == "cuda" else "CPU"
    self.knobs = {"flash_attn": "on" if knobs.flash_attn else "off", **({"split_mode": knobs.split_mode, "gpus": knobs.gpus} if knobs.split_mode != "none" else {})}
    buffers = buffer_bytes(BUFFERS)
    self.info = {"load_seconds": round(time.perf_counter() - t0, 3), "llamacpp.flash_attn": int(knobs.flash_attn),
                 "llamacpp.n_gpu_layers": "all" if cfg.device == "cuda" else 0, "llamacpp.sampling": "llama.cpp backend sampler (greedy, in the graph)" if self.backend_sampled else "harness (numpy)",
                 "llamacpp.decode_loop": loop, "llamacpp.threadpool": "one per context" if self.c else "ggml's, one per graph",
                 "llamacpp.n_ubatch": params.n_ubatch,
                 "llamacpp.system_info": lib.llama_print_system_info().decode(errors="replace").strip(),
                 # as llama.cpp logged them when it allocated: predicted_bytes counts the compute and output buffers
                 **{f"{k.lower()}_buffer_bytes": v for k, v in buffers.items()}}

  def _decode(self, seqs: list[list[int]], pos: int) -> tuple[list[int], float, float]:
    """One llama_decode of every sequence's ids at positions pos.. (sequence s has seq id s). Returns (each sequence's
    next token, seconds until llama_decode returned, seconds until sampled)."""
    b, n, m = self.batch, len(seqs[0]), len(seqs) * len(seqs[0])
    b.n_tokens = m
    self.b_token[:m] = np.ravel(seqs)
    self.b_pos[:m] = np.tile(np.arange(pos, pos + n), len(seqs))
    self.b_n_seq_id[:m] = 1
    self.b_logits[:m] = 0
    self.b_logits[n - 1:m:n] = 1
    if len(seqs) > 1:  # sequence s's ids sit at s*n..; a single sequence keeps seq id 0 everywhere
      for j in range(m): b.seq_id[j][0] = j // n
    t0 = time.perf_counter()
    if rc := self.lib.llama_decode(self.ctx, b): raise RuntimeError(f"llama_decode failed with code {rc} ({log_errors()})")
    t1 = time.perf_counter()
    if self.backend_sampled:  # each sequence's last token is its output
      tokens = [self.lib.llama_get_sampled_token_ith(self.ctx, j) for j in range(n - 1, m, n)]
      if min(tokens) < 0: raise RuntimeError(f"llama.cpp's backend sampler gave no token ({log_errors() or 'no reason logged'})")
      return tokens, t1 - t0, time.perf_counter() - t0
    # the outputs are the sequences' last tokens, in batch order: B rows of logits, one block (the same buffer from
    # step to step unless llama.cpp reallocates it)
    at = ctypes.cast(self.lib.llama_get_logits(self.ctx), ctypes.c_void_p).value
    if at != self.logits_at:
      self.logits_at, self.logits = at, np.ctypeslib.as_array(ctypes.cast(at, ctypes.POINTER(ctypes.c_float)), shape=(self.n_seq, self.n_vocab))
    tokens = sample(self.logits[:len(seqs)], self.temperature, self.rng)
    return tokens, t1 - t0, time.perf_counter() - t0

  def generate(self, prompt_ids: list[int], n_decode: int) -> Iterator[Step]:
    if len(prompt_ids) + n_decode > self.n_ctx:
      raise ValueError(f"prompt ({len(prompt_ids)}) + {n_decode} tokens exceed the context of {self.n_ctx}: raise --ctx")
    self.lib.llama_memory_clear(self.lib.llama_get_memory(self.ctx), True)  # fresh KV cache: every run starts cold
    self.lib.llama_perf_context_reset(self.ctx)
    self.prompt_len = len(prompt_ids)
    tokens, enqueue, total = self._decode([prompt_ids] * self.n_seq, 0)
    yield Step(tokens[0], len(prompt_ids) * self.n_seq, enqueue, total, token_ids=tuple(tokens))
    if self.decode_in_c:
      yield from self._decode_in_c(tokens, len(prompt_ids), n_decode)
      return
    for i in range(n_decode):
      tokens, enqueue, total = self._decode([[t] for t in tokens], len(prompt_ids) + i)
      yield Step(tokens[0], self.n_seq, enqueue, total, token_ids=tuple(tokens))

  def _decode_in_c(self, tokens: list[int], pos: int, n_decode: int) -> Iterator[Step]:
    """Every decode step in one call of llamacpp_decode.c; the steps come out after the last one."""
    out = np.zeros((n_decode, self.n_seq), np.int32)
    enqueue, total = np.zeros(n_decode), np.zeros(n_decode)
    failed = ctypes.c_int32(0)
    rc = self.c.inferbench_decode(self.ctx, self.batch, self.n_seq, np.array(tokens, np.int32), pos, n_decode, out, enqueue, total, ctypes.byref(failed))
    if rc == -1000: raise RuntimeError(f"llama.cpp's backend sampler gave no token at decode step {failed.value + 1} ({log_errors() or 'no reason logged'})")
    if rc: raise RuntimeError(f"llama_decode failed with code {rc} at decode step {failed.value + 1} ({log_errors()})")
    for row, e, t in zip(out.tolist(), enqueue.tolist(), total.tolist()): yield Step(row[0], self.n_seq, e, t, token_ids=tuple(row))

  def run_totals(self) -> dict:
    # llama.cpp counts a step of several sequences as prompt evaluation, and a one-token prompt as a decode step (seen
    # as 201 decode steps for 200): its timers then do not compare with the steps'
    if self.n_seq > 1 or self.prompt_len == 1: return {}
    p = self.lib.llama_perf_context(self.ctx)
    return {"internal_prefill_ms": p.t_p_eval_ms, "internal_decode_ms": p.t_eval_ms,
            "internal_prefill_tokens": p.n_p_eval, "internal_decode_steps": p.n_eval}

def sample(logits: np.ndarray, temperature: float, rng: Generator, top_p: float = 1.0) -> list[int]:
  """One token per row of logits: the argmax, or drawn from softmax(logits / temperature) by inverse CDF, as
  rng.choice(p=...) draws it (one uniform per row), for all rows at once. top_p < 1: nucleus sampling, from the
  most likely tokens whose probabilities sum to top_p (the one that crosses it included), renormalized."""
  if temperature <= 0: return np.argmax(logits, axis=1).tolist()
  z = logits.astype(np.float64) / temperature
  p = np.exp(z - z.max(axis=1, keepdims=True))
  if top_p < 1:
    order = np.argsort(-p, axis=1, kind="stable")
    sp = np.take_along_axis(p, order, axis=1)
    before = np.cumsum(sp, axis=1) - sp  # mass of the likelier tokens: a token is kept while that is below top_p
    np.put_along_axis(p, order, np.where(before < top_p * p.sum(axis=1, keepdims=True), sp, 0.0), axis=1)
  cdf = np.cumsum(p, axis=1)
  u = rng.random(len(z))
  return (cdf <= (u * cdf[:, -1])[:, None]).sum(axis=1).tolist()

def load(cfg: RunConfig, model: Path) -> LlamaCppEngine: return LlamaCppEngine(cfg, model)
