"""An OpenAI-compatible server over the continuous-batching llama.cpp engine (batching.py), or PyTorch's
dynamically batched one (torch_batching.py: a batch at a time, no joining mid-flight).

  inferbench serve --backend llamacpp --size 135M --quantize Q8_0 --max-batch 8 --batch-timeout-ms 10
  inferbench serve --backend torch --size 135M --quantize F16 --max-batch 8 --batch-timeout-ms 10

/v1/completions, /v1/chat/completions (streamed as server-sent events, or not; `usage` in both) and /v1/models,
on FastAPI + uvicorn + sse-starlette; /health reports slots, queue and RSS. It binds 127.0.0.1 unless --host says
otherwise. Several --quantize values (or --model paths) serve several models at once, each with its own engine.
Requests take what OpenAI's API and the clients written for it send (nulls where OpenAI allows them, message content
as a list of text parts, the developer role, top_p); bad JSON, wrong types or out-of-range values of a known field get
400 naming the field, with an OpenAI-style error body, and so do the OpenAI features not implemented here (stop
sequences, penalties, logprobs on chat or streamed) unless sent at their no-op values. Non-streamed /v1/completions take
echo and logprobs=N (and a list of token lists, a choice each) as OpenAI's legacy API defines them, scored on a separate
llama.cpp context (scoring.py): what lm-eval's local-completions sends. A field OpenAI does not define is ignored and named
once in the server log, as vLLM does. A full queue gets 503 with Retry-After; a client that goes away frees its slot
at the next step. Beyond OpenAI's fields: ignore_eos and min_tokens (as vLLM and llama.cpp's servers take them),
stream_options.continuous_usage_stats (vLLM's: usage so far on every chunk), usage.prompt_tokens_details.cached_tokens
(the prompt tokens the prompt cache supplied, as OpenAI reports them), and a `timings` object on the last chunk
(queue, prompt and decode ms, as llama.cpp's own server reports them).
"""
from __future__ import annotations
import importlib.util
if importlib.util.find_spec("llama_cpp"): import llama_cpp.llama_cpp  # noqa: F401  libllama before numpy: see backends/llamacpp.py
import argparse, asyncio, ctypes, hmac, json, os, sys, time, uuid
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, AsyncIterator, Literal
from fastapi import Depends, FastAPI, Request as HTTPRequest
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from sse_starlette.sse import EventSourceResponse
from inferbench.core import cli, formats, metadata, registry
from inferbench.models import prepare
from inferbench.backends import pytorch
from inferbench.backends.llamacpp import Tokenizer, llama_lib
from inferbench.serving.batching import BatchEngine, Finish, QueueFull, Request, Scheduler, Token
from inferbench.serving.scoring import Scorer

UNION_TAGS = {"str", "int", "float", "bool", "none", "dict", "list"}  # pydantic's names of a union's members in an error's location
OWNERS = {"llamacpp": "inferbench", "torch": "inferbench-torch"}  # /v1/models' owned_by: endpoint.KNOWN_OWNERS names the logs by it

def only(*allowed, why: str):
  """A field of OpenAI's this server does not implement: accepted at null or its no-op values, else a 400 naming it."""
  def check(v):
    if v is not None and v not in allowed: raise ValueError(f"{why}: send null" + "".join(f" or {json.dumps(a)}" for a in allowed))
    return v
  return AfterValidator(check)

class Lenient(BaseModel):
  """OpenAI's request objects: values strictly typed and in range, null wherever OpenAI allows it; a field OpenAI does not
  define is kept aside (model_extra), ignored and named once in the server log, as vLLM does."""
  model_config = ConfigDict(extra="allow", strict=True)

class StreamOptions(Lenient):
  include_usage: bool | None = None
  continuous_usage_stats: bool | None = None     # vLLM's: usage so far on every chunk

class Body(Lenient):
  model: str | None = None                       # None: the first model served
  max_tokens: int | None = Field(None, ge=1)     # None: 16 for completions (OpenAI's default), the context's room for chat
  temperature: float | None = Field(None, ge=0.0, le=2.0)  # None: 1, OpenAI's default
  top_p: float | None = Field(None, gt=0.0, le=1.0)       # None: 1 (no nucleus)
  seed: int | None = Field(None, ge=0, lt=2**64)  # None: the server's --seed
  stream: bool | None = None
  stream_options: StreamOptions | None = None
  n: int | None = Field(None, ge=1, le=1)
  ignore_eos: bool | None = None                 # vLLM's and llama.cpp's: generate past EOS
  min_tokens: int | None = Field(None, ge=0)     # theirs too: EOS before this many tokens is ignored
  user: str | None = None
  stop: Annotated[str | list[str] | None, only([], why="stop sequences are not supported")] = None
  logprobs: Annotated[bool | int | None, only(False, why="logprobs are not supported")] = None
  top_logprobs: Annotated[int | None, only(0, why="logprobs are not supported")] = None
  presence_penalty: Annotated[float | None, only(0, why="penalties are not supported")] = None
  frequency_penalty: Annotated[float | None, only(0, why="penalties are not supported")] = None
  logit_bias: Annotated[dict | None, only({}, why="logit_bias is not supported")] = None

Tokens = Annotated[list[int], Field(min_length=1)]

class CompletionBody(Body):
  prompt: Annotated[str, Field(min_length=1)] | Tokens | Annotated[list[Tokens], Field(min_length=1)]  # several: one choice each
  max_tokens: int | None = Field(None, ge=0)     # 0: score the prompt only (echo), as lm-eval asks
  logprobs: int | None = Field(None, ge=0, le=5)  # OpenAI's legacy completions: the top N alternatives of each token
  echo: bool | None = None                       # the prompt's tokens (and their logprobs) before the completion's
  best_of: Annotated[int | None, only(1, why="best_of is not supported")] = None
  suffix: Annotated[str | None, only(why="suffix is not supported")] = None

class TextPart(Lenient):
  type: Literal["text"]                          # images, audio: this server serves text models
  text: str

class Message(Lenient):
  role: Literal["system", "developer", "user", "assistant"]  # developer: OpenAI's newer name for system
  content: str | list[TextPart] | None = None    # None: an assistant turn that only called tools
  name: str | None = None

  @property
  def text(self) -> str:  # parts joined by newlines, as vLLM joins them
    return self.content if isinstance(self.content, str) else "\n".join(p.text for p in self.content or [])

class ChatBody(Body):
  messages: Annotated[list[Message], Field(min_length=1)]
  max_completion_tokens: int | None = Field(None, ge=1)

def ignored(m: BaseModel, at: str = "") -> list[str]:
  """The fields a request carried that this server does not define, dotted ("stream_options.foo", "messages[].bar")."""
  out = [at + k for k in m.model_extra or {}]
  for k in type(m).model_fields:
    for v in (x if isinstance(x := getattr(m, k), list) else [x]):
      if isinstance(v, BaseModel): out += ignored(v, f"{at}{k}{'[]' if isinstance(x, list) else ''}.")
  return out

class APIError(Exception):
  def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None, headers: dict | None = None):
    super().__init__(message)
    self.status, self.param, self.code, self.headers = status, param, code, headers

def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None, code: str | None = None) -> dict:
  return {"error": {"message": message, "type": kind, "param": param, "code": code}}

@dataclass
class Served:
  id: str
  path: Path
  engine: Scheduler
  tokenizer: Tokenizer
  scorer: Scorer | None = None                   # None: this engine's numerics are not llama.cpp's (torch), it cannot score

  def chat_prompt(self, messages: list[Message]) -> list[int]:
    """The model's own chat template, as llama.cpp applies it (its built-in templates; no Jinja), whichever engine runs it."""
    lib = llama_lib()
    tmpl = lib.llama_model_chat_template(self.tokenizer.model, None)
    roles = [b"system" if m.role == "developer" else m.role.encode() for m in messages]  # chat templates know system, not developer
    msgs = (lib.llama_chat_message * len(messages))(*[lib.llama_chat_message(r, m.text.encode()) for r, m in zip(roles, messages)])
    n = lib.llama_chat_apply_template(tmpl, msgs, len(messages), True, None, 0) if tmpl else -1
    if n < 0: raise APIError(400, f"model {self.id} has no chat template llama.cpp knows: use /v1/completions", "messages")
    buf = ctypes.create_string_buffer(n + 1)
    lib.llama_chat_apply_template(tmpl, msgs, len(messages), True, buf, n + 1)
    return self.tokenizer.encode(buf.raw[:n].decode(errors="replace"), special=True)

def rss_bytes() -> int | None:
  try: return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
  except (OSError, ValueError, IndexError): return None

def make_app(served: dict[str, Served], api_key: str | None, default_seed: int = 0, settings: dict | None = None, owner: str = OWNERS["llamacpp"]) -> FastAPI:
  """settings: how the server runs (batching, threads, version), listed with each model so a client's log records it."""
  app = FastAPI(title="inferbench.serving.server", docs_url=None, redoc_url=None, openapi_url=None)
  default = next(iter(served.values()))
  expected = f"Bearer {api_key}".encode() if api_key else None

  @app.exception_handler(ValidationError)
  async def invalid(_, e: ValidationError):
    # of a union's errors (one per member) the one that got furthest into the value: a list of parts' bad part, not "not a string"
    err = max(e.errors(include_url=False, include_input=False), key=lambda x: len(x.get("loc", ())))
    where = ".".join(str(p) for p in err.get("loc", ()) if isinstance(p, int) or p.isidentifier() and p not in UNION_TAGS) or None
    return JSONResponse(error_body(f"{where or 'body'}: {err.get('msg', 'invalid')}", param=where), status_code=400)

  @app.exception_handler(ClientDisconnect)
  async def gone(http: HTTPRequest, _):
    # the client left inside its body: nothing was queued, nobody reads an answer; one line, not uvicorn's traceback
    print(f"inferbench serve: a client went away inside its request body ({http.url.path}): dropped", file=sys.stderr, flush=True)
    return Response(status_code=499)

  named: set[str] = set()
  async def parse(http: HTTPRequest, cls: type[Body]):
    """The body is JSON whatever its Content-Type says, its known fields validated strictly; unknown ones are named once."""
    body = cls.model_validate_json(await http.body())
    if new := [f for f in ignored(body) if f not in named]:
      named.update(new)
      print(f"inferbench serve: ignoring field(s) this server does not define: {', '.join(new)} (each named once)", file=sys.stderr, flush=True)
    return body

  @app.exception_handler(APIError)
  async def api_error(_, e: APIError):
    kind = "invalid_request_error" if e.status < 500 else "server_error"
    return JSONResponse(error_body(str(e), kind, e.param, e.code), status_code=e.status, headers=e.headers)

  def authorized(request: HTTPRequest):
    """The key is compared in constant time, and never logged or echoed."""
    if expected and not hmac.compare_digest(request.headers.get("authorization", "").encode(), expected):
      raise APIError(401, "invalid or missing API key: send Authorization: Bearer KEY", code="invalid_api_key")
  auth = [Depends(authorized)]

  @app.get("/health")
  async def health():
    return {"status": "ok", "rss_bytes": rss_bytes(), "models": {m.id: {**m.engine.stats(), "max_batch": m.engine.max_batch} for m in served.values()}}

  @app.get("/v1/models", dependencies=auth)
  async def list_models():
    return {"object": "list", "data": [{"id": m.id, "object": "model", "created": 0, "owned_by": owner, "settings": settings or {}}
                                       for m in served.values()]}

  def resolve(body: Body) -> Served:
    if not body.model: return default
    if body.model not in served: raise APIError(404, f"model {body.model!r} is not served here: use one of {', '.join(served)}", "model", "model_not_found")
    return served[body.model]

  def submit(m: Served, body: Body, prompt: list[int], max_tokens: int, emit) -> Request:
    if bad := [t for t in prompt if not 0 <= t < m.engine.n_vocab]: raise APIError(400, f"prompt: token id {bad[0]} is not in the vocabulary", "prompt")
    req = Request(prompt, max_tokens, emit, 1.0 if body.temperature is None else body.temperature, default_seed if body.seed is None else body.seed,
                  body.min_tokens or 0, bool(body.ignore_eos), 1.0 if body.top_p is None else body.top_p)
    try: m.engine.submit(req)
    except QueueFull as e: raise APIError(503, f"server busy: {e}; retry later", code="queue_full", headers={"Retry-After": "1"})
    except ValueError as e: raise APIError(400, str(e), "max_tokens")
    return req

  async def respond(http: HTTPRequest, m: Served, body: Body, chat: bool, prompt: list[int], max_tokens: int):
    loop, events = asyncio.get_running_loop(), asyncio.Queue()
    def emit(ev):  # on the scheduler thread: hand over to this request's event loop, never block or raise there
      try: loop.call_soon_threadsafe(events.put_nowait, ev)
      except RuntimeError: pass  # the loop is gone (shutdown): nobody is waiting
    req = submit(m, body, prompt, max_tokens, emit)
    rid, created = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}", int(time.time())
    head = {"id": rid, "object": ("chat.completion.chunk" if body.stream else "chat.completion") if chat else "text_completion",
            "created": created, "model": m.id}
    def choice(text: str | None, finish: str | None, first: bool = False) -> dict:
      if not chat: return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
      if not body.stream: return {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": finish}
      return {"index": 0, "delta": ({"role": "assistant"} if first else {}) | ({"content": text} if text is not None else {}), "logprobs": None,
              "finish_reason": finish}
    def usage(completion: int, cached: int) -> dict:  # cached: as OpenAI reports prompt caching
      return {"prompt_tokens": len(prompt), "completion_tokens": completion, "total_tokens": len(prompt) + completion,
              "prompt_tokens_details": {"cached_tokens": cached}}
    options = body.stream_options or StreamOptions()
    def timings(f: Finish) -> dict: return {"queue_ms": f.queue_ms, "prompt_ms": f.prompt_ms, "predicted_ms": f.predicted_ms}

    async def stream() -> AsyncIterator[str]:
      try:
        first, n_out = True, 0
        while True:
          ev = await events.get()
          if isinstance(ev, Token):
            n_out += ev.token_id >= 0  # a tail of UTF-8 bytes (id -1) is no token
            so_far = {"usage": usage(n_out, req.cached)} if options.continuous_usage_stats else {}  # req.cached: set at admission, before any token
            yield json.dumps({**head, "choices": [choice(ev.text, None, first)]} | so_far)
            first = False
            continue
          if ev.error: yield json.dumps(error_body(ev.error, "server_error")); return
          yield json.dumps({**head, "choices": [choice(None if chat else "", ev.reason)], "timings": timings(ev)}
                           | ({"usage": usage(ev.completion_tokens, ev.cached_tokens)} if options.continuous_usage_stats else {}))
          if options.include_usage: yield json.dumps({**head, "choices": [], "usage": usage(ev.completion_tokens, ev.cached_tokens)})
          yield "[DONE]"
          return
      finally: m.engine.cancel(req)  # the client went away (or it ended): its slot is freed at the next step

    if body.stream: return EventSourceResponse(stream(), ping=15, sep="\n")  # events end in \n\n, as OpenAI's and vLLM's: vLLM's bench splits on it
    texts = []
    try:
      while True:
        try: ev = await asyncio.wait_for(events.get(), 0.5)
        except TimeoutError:
          if await http.is_disconnected(): return JSONResponse(error_body("client disconnected"), status_code=499)
          continue
        if isinstance(ev, Token): texts.append(ev.text); continue
        if ev.error: raise APIError(500, ev.error)
        return {**head, "choices": [choice("".join(texts), ev.reason)], "usage": usage(ev.completion_tokens, ev.cached_tokens), "timings": timings(ev)}
    finally: m.engine.cancel(req)

  async def score(m: Served, body: CompletionBody, prompts: list[list[int]]) -> dict:
    """echo and logprobs: every prompt scored on the model's Scorer in a worker thread, the event loop left to the batch engine's requests."""
    param = "logprobs" if body.logprobs is not None else "echo"
    if body.stream: raise APIError(400, f"{param}: not supported with stream=true: send stream=false", param)
    if not m.scorer: raise APIError(400, f"{param}: model {m.id}'s engine cannot score prompts: serve it with --backend llamacpp", param)
    max_tokens = 16 if body.max_tokens is None else body.max_tokens
    for p in prompts:
      if bad := [t for t in p if not 0 <= t < m.engine.n_vocab]: raise APIError(400, f"prompt: token id {bad[0]} is not in the vocabulary", "prompt")
      if len(p) + max_tokens > m.scorer.ctx: raise APIError(400, f"max_tokens: prompt ({len(p)} tokens) + max_tokens ({max_tokens}) exceed the context of {m.scorer.ctx}: lower max_tokens, or serve with a larger --ctx", "max_tokens")
    seed = default_seed if body.seed is None else body.seed
    temperature = 1.0 if body.temperature is None else body.temperature
    out = [await asyncio.to_thread(m.scorer.choice, i, p, max_tokens, body.logprobs, bool(body.echo), temperature, seed, bool(body.ignore_eos), body.min_tokens or 0)
           for i, p in enumerate(prompts)]
    n_prompt, n_out = sum(map(len, prompts)), sum(n for _, n in out)
    return {"id": f"cmpl-{uuid.uuid4().hex[:24]}", "object": "text_completion", "created": int(time.time()), "model": m.id,
            "choices": [c for c, _ in out], "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_out, "total_tokens": n_prompt + n_out}}

  @app.post("/v1/completions", dependencies=auth)
  async def completions(http: HTTPRequest):
    m = resolve(body := await parse(http, CompletionBody))
    prompts = [m.tokenizer.encode(body.prompt)] if isinstance(body.prompt, str) else body.prompt if isinstance(body.prompt[0], list) else [body.prompt]
    if body.echo or body.logprobs is not None: return await score(m, body, prompts)
    if len(prompts) > 1: raise APIError(400, "prompt: several prompts in one request are scored only (echo or logprobs): send one per request", "prompt")
    if body.max_tokens == 0: raise APIError(400, "max_tokens: 0 only scores the prompt: send echo=true, or max_tokens >= 1", "max_tokens")
    return await respond(http, m, body, False, prompts[0], body.max_tokens or 16)

  @app.post("/v1/chat/completions", dependencies=auth)
  async def chat_completions(http: HTTPRequest):
    m = resolve(body := await parse(http, ChatBody))
    prompt = m.chat_prompt(body.messages)
    return await respond(http, m, body, True, prompt, body.max_completion_tokens or body.max_tokens or max(1, m.engine.ctx_per_seq - len(prompt)))

  return app

def model_paths(args: argparse.Namespace) -> list[Path]:
  if args.model: return [prepare.source_path(None, m) for m in args.model]
  return list(dict.fromkeys(prepare.quantized(prepare.source_path(s), q, args.threads, log=lambda m: print(m, file=sys.stderr))
                            for s in args.size for q in args.quantize))

def parser() -> argparse.ArgumentParser:
  p = cli.Parser(prog="python -m inferbench.serving.server", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--backend", choices=list(OWNERS), default="llamacpp",
                 help="the in-process engine: llama.cpp's continuous batching, or PyTorch's dynamic batching (default: %(default)s)")
  p.add_argument("--size", nargs="+", default=[registry.DEFAULT_SIZE], help=f"registry models: {', '.join(registry.MODELS)}")
  p.add_argument("--quantize", nargs="+", default=[registry.DEFAULT_QUANTIZE], help="GGUF types, made with llama.cpp's quantizer when missing (default: %(default)s)")
  p.add_argument("--model", nargs="+", help="serve these local GGUF files instead of --size/--quantize")
  p.add_argument("--max-batch", type=int, default=8, help="sequences decoded in one step; 1 = no batching (default: %(default)s)")
  p.add_argument("--batch-timeout-ms", type=float, default=0.0, help="an idle engine waits this long for more requests before its first step (default: %(default)s)")
  p.add_argument("--max-queue", type=int, default=64, help="requests waiting for a slot; beyond it 503 (default: %(default)s)")
  p.add_argument("--ctx", type=int, default=1024, help="context per sequence: prompt + max_tokens (default: %(default)s)")
  p.add_argument("--threads", type=int, default=registry.DEFAULT_THREADS, help="CPU threads per model (default: %(default)s)")
  p.add_argument("--flash-attn", action="store_true", help="llama.cpp flash attention")
  p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], help="torch: the dtype weights are dequantized to (default: float32 on the CPU, float16 on CUDA)")
  p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where the model runs; llama.cpp on cuda: every layer (default: %(default)s)")
  p.add_argument("--seed", type=int, default=registry.DEFAULT_SEED, help="sampling seed of requests that give none (default: %(default)s)")
  p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, this machine only)")
  p.add_argument("--port", type=int, default=8000, help="(default: %(default)s)")
  key = p.add_mutually_exclusive_group()
  key.add_argument("--api-key", help="require Authorization: Bearer KEY (visible in the process list: prefer --api-key-env)")
  key.add_argument("--api-key-env", help="require the key held in this environment variable")
  return p

def make_engine(args: argparse.Namespace, path: Path, tokenizer: Tokenizer) -> Scheduler:
  common = (args.max_batch, args.ctx, args.threads, args.batch_timeout_ms / 1e3, args.max_queue)
  if args.backend == "llamacpp": return BatchEngine(path, tokenizer, *common, args.flash_attn, args.device)
  from inferbench.serving.torch_batching import TorchBatchEngine  # torch only where it is asked for: it takes seconds to import
  return TorchBatchEngine(path, tokenizer, *common, args.dtype or "", args.device)

def main(argv: list[str] | None = None) -> int:
  args = parser().parse_args(argv)
  others = {"torch": [("--flash-attn", args.flash_attn)], "llamacpp": [("--dtype", args.dtype)]}
  if bad := next((flag for flag, given in others[args.backend] if given), None):
    print(f"error: {bad} is a setting of the other backend, not --backend {args.backend}: drop it, or pick the backend it belongs to", file=sys.stderr)
    return 2
  if args.max_batch < 1 or args.max_queue < 0 or args.ctx < 16 or args.threads < 1 or args.batch_timeout_ms < 0 or not 0 < args.port < 65536:
    print("error: --max-batch, --threads >= 1, --max-queue, --batch-timeout-ms >= 0, --ctx >= 16, --port in 1..65535", file=sys.stderr)
    return 2
  api_key = os.environ.get(args.api_key_env) if args.api_key_env else args.api_key
  if args.api_key_env and not api_key:
    print(f"error: --api-key-env {args.api_key_env}: that variable is not set", file=sys.stderr)
    return 2
  try: paths = model_paths(args)
  except formats.ModelError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  import uvicorn
  served = {}
  try:
    for path in paths:
      tokenizer = Tokenizer(pytorch.source_gguf(path))  # a torchao recipe's tokens are its GGUF's
      served[path.stem] = Served(path.stem, path, make_engine(args, path, tokenizer), tokenizer,
                                 Scorer(path, tokenizer, args.ctx, args.threads) if args.backend == "llamacpp" else None)
  except (formats.ModelError, RuntimeError) as e:  # RuntimeError: no CUDA in this build, or no memory for the context
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"inferbench serve: {', '.join(served)} at http://{args.host}:{args.port}/v1 ({args.backend}, max batch {args.max_batch}, "
        f"batch timeout {args.batch_timeout_ms:g} ms, max queue {args.max_queue}, {args.threads} threads per model"
        f"{', API key required' if api_key else ''})", file=sys.stderr, flush=True)
  settings = {"max_batch": args.max_batch, "batch_timeout_ms": args.batch_timeout_ms, "max_queue": args.max_queue, "ctx_per_seq": args.ctx,
              "threads": args.threads, "models_served": len(served)}  # models share the cores: one of two served is a different configuration
  if args.backend == "torch":
    engine = next(iter(served.values())).engine
    settings = {"backend": "torch", "version": engine.torch.__version__, "transformers": version("transformers"), "dtype": engine.dtype,
                "device": engine.torch.cuda.get_device_name() if engine.device == "cuda" else "CPU", **settings}
  else: settings = {"version": version("llama_cpp_python"), "device": metadata.device_name("cuda") if args.device == "cuda" else "CPU", **settings,
                    "flash_attn": int(args.flash_attn)}
  try: uvicorn.run(make_app(served, api_key, args.seed, settings, OWNERS[args.backend]), host=args.host, port=args.port, log_level="warning", access_log=False,
                   timeout_graceful_shutdown=5)
  finally:
    for m in served.values(): m.engine.close()
  return 0

if __name__ == "__main__": sys.exit(main())
