"""Model builders: an MLP, an RNN, convolutions, attention, norms and residual blocks, each a Graph
named as textbooks name it. Imports only core and printing.
"""
