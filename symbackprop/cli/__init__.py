"""The command line: `symbackprop COMMAND ...` (main.py parses; commands.py and teaching.py run,
with what they share in common.py)."""

from .main import main

__all__ = ["main"]
