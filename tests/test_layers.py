"""The architecture as a contract: the layers of pyproject.toml hold (import-linter), and no modules import each
other in a cycle (a cycle inside one layer is invisible to the layers contract)."""
import subprocess, sys
from pathlib import Path
import grimp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from import_graph import cycles  # noqa: E402

def test_layers_contract_is_kept():
  r = subprocess.run([str(Path(sys.executable).with_name("lint-imports"))], cwd=ROOT, capture_output=True, text=True)
  assert r.returncode == 0 and "inferbench layers KEPT" in r.stdout, r.stdout + r.stderr

def test_an_upward_import_breaks_the_contract(tmp_path):
  """The check can fail: a copy of the package where a core module imports a run module is refused."""
  import shutil
  shutil.copytree(ROOT / "inferbench", tmp_path / "inferbench", ignore=shutil.ignore_patterns("__pycache__"))
  shutil.copy(ROOT / "pyproject.toml", tmp_path)
  with open(tmp_path / "inferbench" / "core" / "stats.py", "a") as f: f.write("\nfrom inferbench.run import bench  # noqa\n")
  r = subprocess.run([str(Path(sys.executable).with_name("lint-imports"))], cwd=tmp_path, capture_output=True, text=True,
                     env={"PYTHONPATH": str(tmp_path), "PATH": ""})
  assert r.returncode == 1 and "inferbench.core is not allowed to import inferbench.run" in r.stdout, r.stdout + r.stderr

def test_no_import_cycles():
  assert cycles(grimp.build_graph("inferbench")) == []
