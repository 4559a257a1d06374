"""Architecture search: the configuration tree, the driver, methods, evaluators and run folders.

- ``nao_tf.search.config``: ``SearchConfig``, the typed configuration tree (every default), ``resolve``.
- ``nao_tf.search.presets``: presets as data (``default``, ``paper-ws``, ``paper-full``, ``nb201``).
- ``nao_tf.search.api``: ``run(config, callbacks) -> SearchResult`` and ``resume(run_dir, ...)``.
- ``nao_tf.search.registry``: evaluators keyed by config type, methods keyed by name.
- ``nao_tf.search.loop``: ``Search``, the step-by-step driver, and ``SearchResult``.
- ``nao_tf.search.method``: the ``SearchMethod`` interface; ``nao``, ``evolution``, ``random_search``: the methods.
- ``nao_tf.search.evaluator``: ``Evaluation`` and the ``Evaluator`` interface; ``tabular``, ``weight_sharing``,
  ``child_eval``, ``lm_eval``: the evaluators; ``oracle``: the keras-tuner chief and workers.
- ``nao_tf.search.runfolder``: the run folder (the only module that reads or writes its files).
"""

from __future__ import annotations

from nao_tf.search.api import Callbacks, StepInfo, resume, run
from nao_tf.search.config import SearchConfig, resolve
from nao_tf.search.evaluator import Evaluation, Evaluator
from nao_tf.search.loop import Search, SearchResult

__all__ = ["Callbacks", "Evaluation", "Evaluator", "Search", "SearchConfig", "SearchResult", "StepInfo", "resolve",
           "resume", "run"]
