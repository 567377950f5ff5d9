"""Deployment variants on the runtime side: which graphs a ``--compare`` label swaps in, and what
changed against the reference.

- ``vlm``: a VLM label (``int4``, ``fp16``, ``int8+int4``) -> the manifest graph key per role;
- ``drift``: per-probe and per-figure deltas of two bias runs with paired bootstrap CIs, and
  the "vision path broken" verdict, from the stored per-sample records only (``compare.json``
  and ``mmharness gate`` compute it the same way);
- ``vlm_parity``: per-graph parity of a VLM variant (vision-feature cosine, embedding and
  logit cosine, greedy-token agreement);
- ``bias_compare``: ``mmharness bias --compare``: runs, ``compare.json``, tables.

Segmentation's ``run --compare`` lives in ``harness.compare``; variants are built by
``mmharness build`` (``exporters/variants.py``, ``exporters/precision/``).
"""
