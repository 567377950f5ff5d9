"""Deployment variants on the runtime side: how a variant is named, fed calibration data, and
compared with its reference. How it is built lives in ``exporters/variants/``.

- ``registry``: the naming rule (``<role>.<precision>`` graphs and files) every part shares;
- ``calibration``: calibration batches preprocessed exactly as a sweep does (segmentation);
- ``compare``: ``mmharness run --compare`` (segmentation): deltas with paired CIs and output
  parity per cell, ``compare.json`` and its tables, which ``mmharness report`` reads for both tasks;
- ``vlm``: a VLM ``--compare`` label (``int4``, ``fp16``, ``int8+int4``) -> graph keys per role;
- ``drift``: per-probe and per-figure deltas of two bias runs with paired bootstrap CIs and the
  "vision path broken" verdict, from the stored per-sample records (``compare.json`` and
  ``mmharness gate`` compute it the same way);
- ``vlm_parity``: per-graph parity of a VLM variant (vision-feature cosine and norm ratio,
  embedding and logit cosine, greedy-token agreement);
- ``bias_compare``: ``mmharness bias --compare``: runs, ``compare.json`` (same format as
  ``compare``'s, task ``vqa``), tables.
"""
