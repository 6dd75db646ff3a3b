"""Reverse mode: the Derivation of a graph, one δ per node (reverse.py), its chains and δs
(chains.py), the textbook's tidying (textbook.py) and the walk's fast paths (walk.py).
"""
