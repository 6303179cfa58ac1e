"""Resume: what a folder already holds, so a rerun does only what is left. One rule for every stage: work is done when
its record says ok and its settings are the ones asked for. A raw log is that record for a measured configuration
(its header's run_config, or another key of its header); a journal (a small JSON file, written atomically) is the
record of a stage whose result is not a log (the sweep's quality and task phases)."""
from __future__ import annotations
import json
from pathlib import Path
from typing import Callable, Hashable
from inferbench.core.files import atomic_write
from inferbench.store.rawlog import LogError, parse

def settings_key(settings: dict) -> str: return json.dumps(settings, sort_keys=True)

def run_config(header: dict) -> str | None:
  """A log's configuration settings (RunConfig.settings, as the worker wrote them), or None for a log without them."""
  return settings_key(json.loads(header["run_config"])) if "run_config" in header else None

def finished(folder: Path, pattern: str = "*.txt", key: Callable[[dict], Hashable | None] = run_config) -> dict[Hashable, list[Path]]:
  """The ok logs in folder, by key(header); logs that are cut short, not logs, or without a key are left out (their
  configurations run again)."""
  out: dict[Hashable, list[Path]] = {}
  for path in sorted(Path(folder).glob(pattern)):
    try: log = parse(path)
    except LogError: continue
    if log.ok and (k := key(log.header)) is not None: out.setdefault(k, []).append(path)
  return out

def read_journal(path: Path, settings: dict | None = None) -> dict | None:
  """A journal's record; None when it is missing, unreadable, or (given settings) made with other settings or not ok."""
  try: j = json.loads(Path(path).read_text())
  except (OSError, json.JSONDecodeError): return None
  if settings is not None and (j.get("status") != "ok" or settings_key(j.get("settings", {})) != settings_key(settings)): return None
  return j

def write_journal(path: Path, record: dict): atomic_write(path, json.dumps(record, indent=1))
