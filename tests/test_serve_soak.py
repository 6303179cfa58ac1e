"""The serving soak (benchmarks/serving_soak.py): 2,000 requests on the embedded model, mixed lengths, a fifth of the
clients gone mid-stream, bursts past the queue. 8-12 minutes on 2 shared cores (12 min 19 s at load average 3), so behind the soak marker:
`pytest -m soak tests/test_serve_soak.py`. Binds 127.0.0.1 only."""
import sys
from pathlib import Path
import pytest
from inferbench.core import proc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import serving_soak  # noqa: E402

N = 2000

@pytest.mark.soak
@pytest.mark.timeout(1500)
def test_soak(embedded_model, tmp_path):
  with proc.launch(serving_soak.server_cmd(embedded_model), tmp_path / "server.log", ready_s=120) as srv:
    s = serving_soak.soak(srv.url, srv.proc.pid, N)
  log = (tmp_path / "server.log").read_text(errors="replace")
  assert len(s.ends) == N and set(s.ends) <= {"completed", "cancelled", "refused"}, sorted(set(s.ends))  # every refusal a 503 queue_full
  assert s.ends.count("refused") > 0 and s.ends.count("cancelled") > 0 and not s.malformed, s.malformed[:3]
  assert (s.end_health["active"], s.end_health["queued"]) == (0, 0)
  base = s.rss[0][1]  # after the first 200
  assert all(abs(rss / base - 1) <= 0.05 for _, rss in s.rss), [(n, round(rss / 2**20, 1)) for n, rss in s.rss]
  assert "Traceback" not in log, log[-2000:]
