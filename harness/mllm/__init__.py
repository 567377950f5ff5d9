"""Vision-language models on the three-graph contract (docs/vlm-contract.md), without torch.

``manifest`` (the ``vqa`` block), ``prompt`` (tokenizer + image-token expansion),
``preprocess`` (NumPy pixels), ``runtime`` (KV-cache generation and choices scoring over any
``Session``), ``sessions`` (opening the graphs on a backend), ``answer`` (one question ->
one judged answer), ``records`` (the per-sample cell state), ``bias`` (``mmharness bias`` as
a library call), ``summary`` / ``report_view`` (rendering and gate names). Importing this
package imports nothing heavy.
"""
