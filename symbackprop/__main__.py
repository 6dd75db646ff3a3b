"""``python -m symbackprop``: the command line, as the console script runs it."""
import sys

from .cli.main import main

sys.exit(main())
