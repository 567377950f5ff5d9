"""mmharness: deployment robustness harness for multi-modal models.

The runtime package. It never imports torch; heavy modules (onnxruntime, tensorrt, cv2) are
imported lazily inside the modules that need them so that ``mmharness --help`` stays fast.
"""

__version__ = "0.1.0"
