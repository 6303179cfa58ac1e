"""A minimal OpenAI-compatible server that streams every token at once (FastAPI on uvicorn, 127.0.0.1, its own
process): what the load client does against it is the client's own cost. `python tests/instant_server.py PORT`."""
import contextlib, json, subprocess, sys, time, urllib.request
from pathlib import Path
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

app = FastAPI()

@app.get("/v1/models")
async def models(): return {"data": [{"id": "instant", "owned_by": "instant"}]}

@app.post("/v1/completions")
async def completions(request: Request):
  body = await request.json()
  n = body.get("max_tokens") or 16
  usage = {"prompt_tokens": len(p) if isinstance(p := body.get("prompt"), list) else 1, "completion_tokens": n}
  if not body.get("stream"): return JSONResponse({"choices": [{"text": "x" * n, "finish_reason": "length"}], "usage": usage})
  chunk = lambda i: {"choices": [{"text": "x", "finish_reason": "length" if i == n - 1 else None}]}
  events = [*map(chunk, range(n)), {"choices": [], "usage": usage}]
  return StreamingResponse(iter([b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"]), media_type="text/event-stream")

@contextlib.contextmanager
def serving(port: int):
  """The server in a child process on 127.0.0.1:port, until /v1/models answers; stopped on exit. Yields the API base."""
  proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  url = f"http://127.0.0.1:{port}/v1"
  try:
    for _ in range(300):
      if proc.poll() is not None: raise RuntimeError(f"instant server exited: {proc.stderr.read().decode()[-300:]}")
      with contextlib.suppress(OSError):
        urllib.request.urlopen(f"{url}/models", timeout=1).close()
        break
      time.sleep(0.1)
    else: raise RuntimeError("instant server did not answer /v1/models within 30 s")
    yield url
  finally:
    proc.terminate()
    proc.wait(10)

if __name__ == "__main__": uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", backlog=4096)
