"""Build side of mmharness: torch / transformers / TensorRT -> deployable graphs + manifest.

Modules here may import torch and transformers; ``harness`` never imports them.
"""
