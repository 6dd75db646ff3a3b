"""Model builders beyond the MLP: each returns a Graph with its textbook names and named δs.

>>> import symbackprop as sb
>>> sorted(n for n in ("rnn", "conv1d", "conv2d", "attention", "network") if hasattr(sb, n))
['attention', 'conv1d', 'conv2d', 'network', 'rnn']
"""

from .attention import Attention, attention
from .conv import Conv, conv1d, conv2d
from .forms import general_form
from .norm import Network, batch_norm, dense, layer_norm, network, residual
from .rnn import RNN, rnn

__all__ = ["RNN", "rnn", "Conv", "conv1d", "conv2d", "Attention", "attention", "Network",
           "network", "dense", "layer_norm", "batch_norm", "residual", "general_form"]
