"""The registries of search methods (keyed by name) and evaluators (keyed by their configuration type).

``build_method(config)`` and ``build_evaluator(config)`` turn a ``nao_tf.search.config.SearchConfig`` into the
objects ``nao_tf.search.loop.Search`` drives. To add an evaluator: a config class in ``nao_tf.search.config``
and ``EVALUATORS[ThatConfig] = factory`` here (``factory(settings, config) -> Evaluator``; import heavy
modules inside the factory so that building the registry stays cheap). To add a method: a section in
``MethodConfig`` and ``METHODS["name"] = factory`` (``factory(config, cache) -> SearchMethod``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nao_tf.errors import ConfigError
from nao_tf.search.config import (
    ChildConfig,
    LmChildConfig,
    LmWsConfig,
    SearchConfig,
    TableConfig,
    WsConfig,
)
from nao_tf.search.evaluator import Evaluator
from nao_tf.search.method import SearchMethod


# ----- evaluators ------------------------------------------------------------------------------------------------
def _table(settings: TableConfig, config: SearchConfig) -> Evaluator:
    from nao_tf.search.tabular import TableEvaluator

    if not settings.table:
        raise ConfigError("--table PATH is required with the table evaluator: a CSV(.gz) with a 'cellstr' or 'arch' "
                          "column and one column per metric (the NAS-Bench-201 table format)")
    return TableEvaluator(settings.table, str(config.space), settings.metric, settings.report_metrics, settings.mode)


def _ws(settings: WsConfig, config: SearchConfig) -> Evaluator:
    from nao_tf.search.weight_sharing import WeightSharingEvaluator

    return WeightSharingEvaluator(settings, config.data.dataset, config.data.data_dir, config.seed,
                                  config.planned_rounds(), str(config.space))


def _child(settings: ChildConfig, config: SearchConfig) -> Evaluator:
    from nao_tf.search.child_eval import ChildTrainingEvaluator

    return ChildTrainingEvaluator(settings, str(config.space), config.data.dataset, config.data.data_dir,
                                  config.seed)


def _lm_ws(settings: LmWsConfig, config: SearchConfig) -> Evaluator:
    from nao_tf.search.lm_eval import LmSharedEvaluator

    return LmSharedEvaluator(settings, config.data.dataset, config.data.data_dir, config.seed)


def _lm_child(settings: LmChildConfig, config: SearchConfig) -> Evaluator:
    from nao_tf.search.lm_eval import LmChildEvaluator

    return LmChildEvaluator(settings, config.data.dataset, config.data.data_dir, config.seed)


EVALUATORS: dict[type, Callable[[Any, SearchConfig], Evaluator]] = {
    TableConfig: _table, WsConfig: _ws, ChildConfig: _child, LmWsConfig: _lm_ws, LmChildConfig: _lm_child,
}


def build_evaluator(config: SearchConfig) -> Evaluator:
    """The evaluator ``config.evaluator`` describes (its data is loaded here: errors in it surface now)."""
    factory = EVALUATORS.get(type(config.evaluator))
    if factory is None:
        raise ConfigError(f"no evaluator is registered for {type(config.evaluator).__name__}")
    return factory(config.evaluator, config)


def needs_tensorflow(config: SearchConfig) -> bool:
    """Whether the search trains networks (NAO's controller or any evaluator but the table)."""
    from nao_tf.search.config import NAO_METHODS

    return config.method.name in NAO_METHODS or config.evaluator.kind != "table"


# ----- methods ---------------------------------------------------------------------------------------------------
def _nao(config: SearchConfig, cache: Any) -> SearchMethod:
    from nao_tf.search.nao import NaoMethod

    return NaoMethod(config.method.nao, config.controller_overrides(), config.controller.checkpoint, cache)


def _nao_mutation(config: SearchConfig, cache: Any) -> SearchMethod:
    from nao_tf.search.nao import NaoMutationMethod

    return NaoMutationMethod(config.method.nao, config.controller_overrides(), config.controller.checkpoint, cache)


def _seminas(config: SearchConfig, cache: Any) -> SearchMethod:
    from nao_tf.search.seminas import SemiNasMethod

    return SemiNasMethod(config.method.nao, config.method.seminas, config.controller_overrides(),
                         config.controller.checkpoint, cache)


def _re(config: SearchConfig, cache: Any) -> SearchMethod:
    from nao_tf.search.evolution import RegularizedEvolution

    return RegularizedEvolution(config.method.re.population, config.method.re.sample_size)


def _rs(config: SearchConfig, cache: Any) -> SearchMethod:
    from nao_tf.search.random_search import RandomSearch

    return RandomSearch(config.method.rs.batch)


METHODS: dict[str, Callable[[SearchConfig, Any], SearchMethod]] = {
    "nao": _nao, "nao+mutation": _nao_mutation, "seminas": _seminas, "re": _re, "rs": _rs}


def build_method(config: SearchConfig, cache: Any = None) -> SearchMethod:
    """The method ``config.method.name`` names, with its section's settings; ``cache``: a shared
    ``nao_tf.search.nao.ControllerCache`` (benchmarks running many searches trace the controller once)."""
    if config.method.name not in METHODS:
        raise ConfigError(f"unknown search method {config.method.name!r}; expected one of {', '.join(METHODS)}")
    return METHODS[config.method.name](config, cache)
