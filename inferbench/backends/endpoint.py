"""Any OpenAI-compatible server (mlc_llm serve, llama.cpp's servers, tinygrad.llm --serve, vLLM), over plain HTTP.

A streaming engine (this module and mlc.py) takes an OpenAI completion request body and yields `None` once the
request is accepted (HTTP headers arrived), then one dict per event: the server's JSON chunks as they arrive.
serving.py times them; this module only talks HTTP and turns every way a server can fail into one EndpointError
whose message says what happened. Every socket read has a stall timeout, and every request a hard deadline: a
timer shuts the socket down when it passes, so a server that trickles bytes (in its headers, a chunk or a line
without end) cannot hold a request past it. The API key comes from an environment variable and is scrubbed from
every message.
"""
from __future__ import annotations
import http.client, json, os, socket, threading, time
from dataclasses import dataclass, field
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

class EndpointError(Exception):
  """A request that did not complete: refused, HTTP error, malformed chunk, stalled, cut off. One-line message."""
  def __init__(self, msg: str, status: int | None = None):
    super().__init__(msg)
    self.status = status

@dataclass(frozen=True)
class EndpointConfig:
  url: str                             # the API base, e.g. http://127.0.0.1:8000/v1
  api_key_env: str = "OPENAI_API_KEY"  # the variable holding the key; the key itself is never stored in a config
  stall_s: float = 60.0                # no byte for this long: the stream stalled
  request_s: float = 600.0             # a whole request, at most

def public_url(url: str) -> str:
  """The URL as it may be written down: no user:password@, no query string (either can carry a key)."""
  u = urlsplit(url)
  return urlunsplit((u.scheme, u.hostname + (f":{u.port}" if u.port else "") if u.hostname else "", u.path.rstrip("/"), "", ""))

MAX_LINE, MAX_BODY = 1 << 20, 1 << 24  # bytes: a stream line, a whole JSON response

def _expire(sock: socket.socket, expired: threading.Event):
  """The request's deadline passed: wake whatever read is blocked on its socket (it then sees EOF)."""
  expired.set()
  try: sock.shutdown(socket.SHUT_RDWR)
  except OSError: pass  # already closed

# owned_by in /v1/models -> the server's name, which names its logs and CSV (mlc -> mlc_llm.csv, the seed's name)
KNOWN_OWNERS = {"mlc-llm": "mlc", "vllm": "vllm", "sglang": "sglang", "inferbench": "inferbench_serve", "inferbench-torch": "inferbench_serve_torch"}

@dataclass
class EndpointEngine:
  cfg: EndpointConfig
  secret: str = field(default="", repr=False)
  server_name: str = "endpoint"
  models: list[str] = field(default_factory=list)
  version: str = "unknown"     # OpenAI-compatible servers do not report their version
  device_name: str = "unknown"  # nor what runs them
  info: dict = field(default_factory=dict)
  knobs: dict = field(default_factory=dict)  # the server's own settings, where it lists them: part of the configuration

  def redact(self, text: str) -> str:
    """The text without the key. A text cut short (a stream's text so far, an excerpt) may end with the key's first
    characters: those go too, from 4 on."""
    return self.redact_pieces([text])[0]

  def redact_pieces(self, pieces: list[str]) -> list[str]:
    """Pieces of one text (a stream's, a piece each step is logged) without the key, wherever it falls across them:
    every piece that holds part of it shows *** in that part's place."""
    if not (s := self.secret): return pieces
    joined = "".join(pieces)
    covered = [False] * len(joined)
    for a in range(len(joined)):
      if joined.startswith(s, a): covered[a:a + len(s)] = [True] * len(s)
    if k := next((k for k in range(min(len(s) - 1, len(joined)), 3, -1) if joined.endswith(s[:k])), 0): covered[-k:] = [True] * k
    out, at = [], 0
    for piece in pieces:
      marks = covered[at:at + len(piece)]
      out.append("".join("***" if m else c for c, m, before in zip(piece, marks, [False, *marks]) if not (m and before)))
      at += len(piece)
    return out

  def _connect(self, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    u = urlsplit(self.cfg.url)
    if u.scheme not in ("http", "https") or not u.hostname: raise EndpointError(f"bad endpoint URL {public_url(self.cfg.url)!r}: use http://HOST:PORT/v1")
    cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    return cls(u.hostname, u.port, timeout=timeout), u.path.rstrip("/")

  def _headers(self) -> dict[str, str]:
    h = {"Content-Type": "application/json", "Accept": "text/event-stream, application/json"}
    if self.secret: h["Authorization"] = f"Bearer {self.secret}"
    return h

  def request(self, method: str, path: str, body: dict | None, timeout: float) -> Iterator[dict | None]:
    """Sends one request; yields None when the response starts, then each JSON object of the body or stream."""
    where, limit_s = f"{public_url(self.cfg.url)}{path}", min(timeout, self.cfg.request_s)
    end = time.monotonic() + limit_s
    conn, base = self._connect(min(limit_s, self.cfg.stall_s))
    expired, timer = threading.Event(), None
    late = lambda: EndpointError(f"request to {where} took longer than {limit_s:g} s")
    n, done, finished = 0, False, False
    try:
      try:
        conn.connect()
        # the socket itself: http.client hands it over to the response (conn.sock = None) when the server will close it
        timer = threading.Timer(max(0.0, end - time.monotonic()), _expire, (conn.sock, expired))
        timer.daemon = True
        timer.start()
        conn.request(method, base + path, body=None if body is None else json.dumps(body), headers=self._headers())
        resp = conn.getresponse()
      except ConnectionRefusedError: raise EndpointError(f"connection refused by {where}: is the server running there?")
      if resp.status >= 400:
        raise EndpointError(f"HTTP {resp.status} {resp.reason} from {where}: {self.redact(resp.read(300).decode(errors='replace'))!r}", resp.status)
      yield None
      if "text/event-stream" not in resp.getheader("Content-Type", ""):
        data = resp.read(MAX_BODY)
        if expired.is_set(): raise late()
        yield self._json(data.decode(errors="replace"), where)
        return
      while not done:
        line = resp.readline(MAX_LINE)
        if expired.is_set(): raise late()
        if not line:  # the server closed the stream: fine after the last chunk, not before
          if finished: return
          raise EndpointError(f"{where} closed the stream after {n} chunks, before it finished (no [DONE]): did the server die?")
        if len(line) == MAX_LINE and not line.endswith(b"\n"): raise EndpointError(f"{where} sent a line longer than {MAX_LINE} bytes")
        line = line.decode(errors="replace").strip()
        if not line.startswith("data:"): continue  # blank separators, ': ping' comments, 'event:' names
        data = line[5:].strip()
        if data == "[DONE]": done = True; continue
        obj = self._json(data, where)
        finished = finished or any(c.get("finish_reason") for c in obj.get("choices") or [] if isinstance(c, dict))
        n += 1
        yield obj
    except EndpointError: raise
    except (TimeoutError, socket.timeout):
      if expired.is_set(): raise late() from None
      raise EndpointError(f"{where} stalled: no data for {min(limit_s, self.cfg.stall_s):g} s (after {n} chunks)")
    except (http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionError) as e:
      if expired.is_set(): raise late() from None
      raise EndpointError(f"{where} cut the connection after {n} chunks ({type(e).__name__}): did the server die?")
    except (OSError, http.client.HTTPException) as e:
      if expired.is_set(): raise late() from None
      raise EndpointError(self.redact(f"{where}: {type(e).__name__}: {e}"))
    finally:
      if timer: timer.cancel()
      conn.close()

  def _json(self, data: str, where: str) -> dict:
    try: obj = json.loads(data)
    except json.JSONDecodeError: raise EndpointError(f"malformed chunk from {where}, not JSON: {self.redact(data[:80])!r}")
    if not isinstance(obj, dict): raise EndpointError(f"malformed chunk from {where}, not a JSON object: {self.redact(data[:80])!r}")
    if "error" in obj: raise EndpointError(f"{where} reported an error: {self.redact(json.dumps(obj['error'])[:200])}")
    return obj

  def stream(self, body: dict) -> Iterator[dict | None]: return self.request("POST", "/completions", body, self.cfg.request_s)

def secret(cfg: EndpointConfig) -> str: return os.environ.get(cfg.api_key_env, "")

def load(cfg: EndpointConfig, server_name: str | None = None) -> EndpointEngine:
  """Connects and asks /models what is served: its owner names the server (mlc where it is MLC-LLM)."""
  engine = EndpointEngine(cfg, secret=secret(cfg))
  listing = next(o for o in engine.request("GET", "/models", None, min(30.0, cfg.request_s)) if o is not None)
  data = listing.get("data") if isinstance(listing.get("data"), list) else []
  engine.models = [str(m.get("id")) for m in data if isinstance(m, dict)]
  owners = sorted({str(m.get("owned_by", "")) for m in data if isinstance(m, dict)})
  engine.server_name = server_name or next((KNOWN_OWNERS[o.lower()] for o in owners if o.lower() in KNOWN_OWNERS), "endpoint")
  engine.info = {"endpoint.url": public_url(cfg.url), "endpoint.owned_by": ",".join(owners) or "unknown",
                 "endpoint.api_key": f"from ${cfg.api_key_env}" if engine.secret else "none",
                 "endpoint.stall_timeout_s": cfg.stall_s, "endpoint.request_timeout_s": cfg.request_s}
  # inferbench serve lists how it runs (max batch, batch timeout, threads...): those become the log's server.* settings
  served = next((m["settings"] for m in data if isinstance(m, dict) and isinstance(m.get("settings"), dict)), {})
  engine.version, engine.device_name = str(served.pop("version", engine.version)), str(served.pop("device", engine.device_name))
  engine.knobs = {k: v for k, v in served.items() if str(k).replace("_", "").isalnum() and str(k).islower()}
  engine.info |= {f"server.{k}": v for k, v in engine.knobs.items()}
  return engine
