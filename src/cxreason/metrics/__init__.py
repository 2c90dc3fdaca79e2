"""cxreason.metrics: outcome accuracy, set-level F1, RadRScore and bootstrap CIs.

Modules: :mod:`outcome` (answer parsing, option matching, set F1), :mod:`radrscore` (offline
RadRScore), :mod:`judge` + :mod:`prompts` (LLM-judge RadRScore), :mod:`embed` (offline MiniLM),
:mod:`bootstrap` (CIs, paired test), :mod:`score` (per-item rows, aggregates), :mod:`report`
(scores.json, report.md, scores.png, comparisons), :mod:`cli` (``cxreason score``).
Rules and measured figures: docs/metrics.md.
"""
