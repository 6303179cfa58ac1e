#!/usr/bin/env python3
"""The package's import graph: modules, imports between them, and its cycles (each strongly connected set of
modules), counted by grimp as import-linter sees them (imports inside functions count). The layers contract itself
is `lint-imports` (pyproject.toml)."""
import argparse, sys
from pathlib import Path
import grimp

def cycles(graph) -> list[list[str]]:
  """The strongly connected sets of more than one module (Tarjan's algorithm), and modules that import themselves."""
  index: dict[str, int] = {}
  low: dict[str, int] = {}
  stack: list[str] = []
  out: list[list[str]] = []
  def visit(v: str):
    index[v] = low[v] = len(index)
    stack.append(v)
    for w in graph.find_modules_directly_imported_by(v):
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in stack: low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      comp = stack[stack.index(v):]
      del stack[stack.index(v):]
      if len(comp) > 1 or v in graph.find_modules_directly_imported_by(v): out.append(sorted(comp))
  sys.setrecursionlimit(10000)
  for m in sorted(graph.modules):
    if m not in index: visit(m)
  return out

def main() -> int:
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("package", nargs="?", default="inferbench")
  args = p.parse_args()
  sys.path.insert(0, str(Path.cwd()))
  g = grimp.build_graph(args.package, include_external_packages=False)
  edges = sum(len(g.find_modules_directly_imported_by(m)) for m in g.modules)
  found = cycles(g)
  print(f"{args.package}: {len(g.modules)} modules, {edges} imports between them, {len(found)} cycle(s)")
  for c in found: print("  cycle: " + " <-> ".join(c))
  return 1 if found else 0

if __name__ == "__main__": sys.exit(main())
