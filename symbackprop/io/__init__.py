"""Input: the spec reader (io/spec), TOML to a Graph through a safe expression reader. No user text
reaches eval, exec, sympify or parse_expr.
"""
