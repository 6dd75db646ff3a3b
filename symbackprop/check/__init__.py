"""Checks, each against an independent computation: finite differences (gradcheck.py), every printed
equation (verify.py, floats.py), the matrix form against the scalar derivation (matrix.py), the
worked example's numbers (worked.py; by hand, as its key prints them: handkey.py), and the one
report type they return (report.py).
"""
