"""Code from equations: the scalar evaluator (lambdified numpy), the array backends, the matrix
form's batched code, the general form's batched code, and the standalone exported modules.
A derivation or form is read here, never built (they import this layer, not the reverse).
"""
