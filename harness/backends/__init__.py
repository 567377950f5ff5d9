"""Runtimes that execute a deployed graph: ONNX Runtime (CPU/CUDA/TensorRT EP), native TensorRT.

``interface.py`` holds the protocol every backend implements; each implementation is one
module beside it and imports its runtime lazily.
"""
