"""Architecture search: evaluators, the driver, NAO and the baselines, run folders.

- ``nao_tf.search.evaluator``: ``Evaluation`` and the ``Evaluator`` interface (any way of scoring archs).
- ``nao_tf.search.tabular``: ``TableEvaluator`` (e.g. NAS-Bench-201's table).
- ``nao_tf.search.loop``: ``Search`` (the driver, step-by-step API), ``SearchMethod``, ``NaoMethod``.
- ``nao_tf.search.baselines``: ``RandomSearch``, ``RegularizedEvolution``, ``make_method``.
- ``nao_tf.search.runfolder``: the run folder layout.
"""

from __future__ import annotations

from nao_tf.search.evaluator import Evaluation, Evaluator

__all__ = ["Evaluation", "Evaluator"]
