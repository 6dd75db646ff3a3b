"""Printers, the bottom of the house: SymPy expressions and our objects as LaTeX (latex.py, matrix_latex.py,
general_latex.py) and as Jupyter displays (display.py, every ``_repr_*`` body).

They know SymPy and read our objects by their attributes, importing nothing of ours, so every
layer above can print itself.
"""
