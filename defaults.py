"""Model registry and benchmark defaults: the one place to add a model size or change a default.
They live in inferbench/core/registry.py, so the package never imports this top-level script; this name stays for users."""
from inferbench.core.registry import *  # noqa: F401,F403
