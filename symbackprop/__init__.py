"""symbackprop: derive the equations of backpropagation symbolically."""

from .api import *  # noqa: F403 - the public names, gathered in api.py
from .api import __all__  # noqa: F401

__version__ = "0.1.0"
