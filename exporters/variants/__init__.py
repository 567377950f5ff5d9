"""How a deployment variant is built (``mmharness build``); how it is compared lives in
``harness/variants/``, and both follow the naming rule of ``harness.variants.registry``.

- ``plan``: ``--precision``/``--target`` plus the TensorRT features -> concrete build steps;
- ``features``: what the installed TensorRT can do, by attribute, never by version alone;
- ``profiles``: TensorRT optimization profiles from the manifest;
- ``cache``: names of the timing and calibration caches and the hashes that key them;
- ``quantize``: the typed ONNX transforms (FP16 with FP32 I/O, INT8 Q/DQ, INT4 MatMulNBits);
- ``ort``: a segmentation model's ONNX Runtime variant, checked and registered in the manifest;
- ``vlm``: a VLM's variants of its three graphs (FP16, INT8 vision, INT4 decoder).

``exporters/tensorrt.py`` executes a TensorRT plan with the real ``tensorrt`` module; the
calibration data both read is ``harness.variants.calibration``. No module here needs a GPU.
"""
