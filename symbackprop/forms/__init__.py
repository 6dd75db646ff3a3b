"""The three forms of a network's gradients behind one protocol (base.py): scalar (scalar.py, the
Derivation as a Form), matrix (matrix.py, seed 004) and general (general.py with the builders'
forms in models.py and blocks.py). Each is built once and answers equations(), check() and
evaluator().
"""
