"""Precision planning for deployment builds, in plain functions that need no GPU.

``features`` reads what the installed TensorRT can do (by attribute, never by version
number alone); ``plan`` turns ``--precision``/``--target`` plus those features into concrete
build steps; ``profiles`` derives optimization profiles from the manifest; ``cache`` names
the timing and calibration caches and hashes files. ``exporters/tensorrt.py`` executes a
plan with the real ``tensorrt`` module; ``exporters/quantize.py`` makes the typed ONNX
variants (FP16, INT8 Q/DQ) used by ONNX Runtime and by strongly typed TensorRT builds.
"""
