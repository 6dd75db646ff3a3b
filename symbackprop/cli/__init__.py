"""The command line: `symbackprop COMMAND ...` (main.py parses, commands.py runs)."""

from .main import main

__all__ = ["main"]
