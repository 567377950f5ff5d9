"""Pure-NumPy metric core: mergeable confusion matrices and every figure derived from them."""
