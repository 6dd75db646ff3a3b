"""The core: the graph a network is, the op registry (every activation and loss, once), notation,
languages, errors, and the vocabulary the matrix and general forms share with the code that
evaluates them (matrices.py, indexed.py). Imports only printing.
"""
