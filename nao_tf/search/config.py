"""The typed configuration tree of a search: the single home of every search default.

``SearchConfig`` (pydantic models, validated on construction) has five parts::

    SearchConfig
      space, budget, seed, out, preset        what to search, how many distinct evaluations, where to write
      method      MethodConfig                name (nao | nao+mutation | seminas | re | rs), one section per method:
                  .nao  NaoConfig             initial_pool, per_round, round_fraction, top_k, candidates_factor,
                                              search_harder, noise_levels, fill (nao and nao+mutation)
                  .seminas SemiNasConfig      pseudo_labels, pseudo_weight (with the .nao settings)
                  .re   EvolutionConfig       population, sample_size
                  .rs   RandomConfig          batch
      controller  ControllerSection           checkpoint + any ``ControllerConfig`` field (None: the space's default)
      evaluator   one of (discriminated by ``kind``)
                  TableConfig    "table"      table, metric, report_metrics, mode
                  WsConfig       "ws"         NAO-WS supernet on images (layers, channels, lr, re-ranking, ...)
                  ChildConfig    "child"      each CNN trained (epochs, lr, ...; workers/host/port for a chief)
                  LmWsConfig     "lm-ws"      weight-sharing RNN language model
                  LmChildConfig  "lm-child"   each RNN cell trained as a language model
      data        DataConfig                  dataset, data_dir

Why pydantic: the tree is checked once, up front (unknown keys, wrong types, NaN/inf, ranges), before any data
or TensorFlow is loaded, and the same models write and re-read ``config.json`` for ``--resume``.

Resolution (``resolve``) happens once: preset < ``--config`` YAML file < flags (``overrides``). Presets are
data (``nao_tf.search.presets``). Every field that has a command-line flag names it in its metadata, so the CLI
builds its flags and help strings from this module (``flag_specs``); a config file may use either those flag
names as flat keys (``layers: 2``, ``child-epochs: 3``) or the nested tree (``evaluator: {kind: ws, layers:
2}``), so a run's own ``config.json`` is a valid ``--config`` file.

Extending: a new evaluator adds a config class here (with a unique ``kind``), puts it into ``EvaluatorConfig``
and registers a factory in ``nao_tf.search.registry``; a new method adds a section to ``MethodConfig`` and its
name to ``METHOD_NAMES`` and registers a factory there too.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)

from nao_tf.errors import ConfigError

METHOD_NAMES = ("nao", "nao+mutation", "seminas", "re", "rs")
NAO_METHODS = ("nao", "nao+mutation", "seminas")
EVALUATOR_KINDS = ("table", "ws", "child", "lm-ws", "lm-child")
# the evaluator a space uses when none is given, and the spaces each evaluator can score
SPACE_EVALUATORS = {"nb201": "table", "nasnet-ws": "ws", "nasnet-full": "child", "rnn": "lm-ws"}
# where 'nao-tf benchmark ws-ranking' caches stand-alone accuracies of random architectures, and where a search
# looks for them (nao_tf.search.baseline)
STANDALONE_CACHE = "runs/ws-ranking/standalone.json"
EVALUATOR_SPACES = {"table": None, "ws": ("nasnet-ws",), "child": ("nasnet-full", "nasnet-ws"),
                    "lm-ws": ("rnn",), "lm-child": ("rnn",)}


# ----- value types -------------------------------------------------------------------------------------------
def _not_bool(value: Any) -> Any:
    """YAML ``yes``/``true`` must not become the number 1."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    return value


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool)]
CommaList = Annotated[list[str], BeforeValidator(_comma_list)]


def opt(default: Any, help: str, flag: str | None = None, expect: str | None = None, **constraints: Any) -> Any:
    """A field with its help string, (optionally) its command-line flag, and what an out-of-range value is told
    it must be (``expect``, e.g. "at least 1")."""
    extra = {k: v for k, v in (("flag", flag), ("expect", expect)) if v} or None
    return Field(default, description=help, json_schema_extra=extra, **constraints)


class Section(BaseModel):
    """Base of every part of the tree: unknown keys, NaN and infinity are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_assignment=True)


# ----- methods -------------------------------------------------------------------------------------------------
class NaoConfig(Section):
    """NAO's search settings. Round 0 evaluates ``initial_pool`` random architectures; every later round retrains
    the controller on all evaluations so far, takes the ``top_k`` best as seeds and generates ``per_round`` new
    ones by gradient steps (``candidates_factor`` > 1: generate more and keep the best predicted;
    ``round_fraction`` > 0: a round proposes ``max(per_round, round_fraction * evaluated so far)``). When too
    few are new, pure NAO searches harder (``search_harder``: larger step sizes, more seeds, then decoding from
    embeddings perturbed by Gaussian noise of each of ``noise_levels``); the hybrid ``nao+mutation`` instead
    tops the round up as ``fill`` says. Defaults: the paper's 100/100/100."""

    initial_pool: Int = opt(100, "NAO: random architectures evaluated first", "--initial-pool", ge=1)
    per_round: Int = opt(100, "NAO: new architectures generated per round", "--per-round", ge=1)
    round_fraction: Float = opt(0.0, "NAO: a round proposes max(per-round, this x evaluated so far)",
                                "--round-fraction", ge=0, le=1)
    top_k: Int = opt(100, "NAO: best architectures used as generation seeds", "--top-k", ge=1)
    candidates_factor: Float = opt(1.0, "NAO: generate this many times per-round and keep the best predicted",
                                   "--candidates-factor", ge=1)
    search_harder: bool = opt(True, "NAO: when too few generated architectures are new, try larger step sizes, "
                                    "more seeds and perturbed embeddings", None)
    noise_levels: list[Float] = opt([0.25, 0.5, 1.0, 2.0], "NAO: scales of the Gaussian perturbations of the "
                                                          "moved embeddings tried last when searching harder", None)
    fill: Literal["mutate", "random", "none"] = opt(
        "mutate", "nao+mutation only: how to top up a round when generation finds too few new architectures",
        "--fill")


class SemiNasConfig(Section):
    """SemiNAS (the ``nao`` section's settings, plus these): NAO whose controller is retrained every round on
    the evaluated architectures plus ``pseudo_labels`` random unevaluated ones labelled by its own predictor,
    weighted ``pseudo_weight`` in the loss."""

    pseudo_labels: Int = opt(1000, "SemiNAS: unevaluated random architectures the predictor labels each round",
                             "--pseudo-labels", ge=0)
    pseudo_weight: Float = opt(0.5, "SemiNAS: loss weight of a pseudo-labelled architecture (measured: 1)",
                               "--pseudo-weight", ge=0, le=1)


class EvolutionConfig(Section):
    """Regularized evolution (aging evolution); the defaults are NAS-Bench-201's own RE settings."""

    population: Int = opt(10, "regularized evolution: population size", "--population", ge=1)
    sample_size: Int = opt(3, "regularized evolution: tournament sample size", "--sample-size", ge=1)

    @model_validator(mode="after")
    def _sample_fits(self) -> EvolutionConfig:
        if self.sample_size > self.population:
            raise ValueError(f"sample_size {self.sample_size} must not exceed population {self.population}")
        return self


class RandomConfig(Section):
    batch: Int = opt(1, "random search: architectures per step", None, ge=1)


class MethodConfig(Section):
    name: Literal["nao", "nao+mutation", "seminas", "re", "rs"] = opt(
        "nao", "search method: nao (pure NAO), nao+mutation (NAO topped up with mutations), seminas "
               "(semi-supervised NAO), re (regularized evolution), rs (random search)", "--method")
    nao: NaoConfig = Field(default_factory=NaoConfig)
    seminas: SemiNasConfig = Field(default_factory=SemiNasConfig)
    re: EvolutionConfig = Field(default_factory=EvolutionConfig)
    rs: RandomConfig = Field(default_factory=RandomConfig)


# ----- controller ------------------------------------------------------------------------------------------------
def _controller_section() -> type[Section]:
    """Every ``ControllerConfig`` field as an optional override (None: the space's preset keeps its value, so the
    controller's defaults stay in ``nao_tf.controller.config``), plus the checkpoint to start rounds from."""
    from nao_tf.controller.config import ControllerConfig

    hints = typing.get_type_hints(ControllerConfig)
    fields: dict[str, Any] = {"checkpoint": (str | None, opt(
        None, "start every round from this trained controller (.keras) instead of a random initialization",
        "--controller"))}
    number = {int: Int, float: Float}
    for f in dataclasses.fields(ControllerConfig):
        if f.name == "extra":
            continue
        kind = number.get(hints[f.name], hints[f.name])
        help_text = "controller epochs per round" if f.name == "epochs" else f"controller {f.name}"
        fields[f.name] = (kind | None, opt(None, help_text, "--controller-epochs" if f.name == "epochs" else None))
    return create_model("ControllerSection", __base__=Section, **fields)


ControllerSection = _controller_section()


# ----- evaluators ------------------------------------------------------------------------------------------------
class TableConfig(Section):
    """Look architectures up in a CSV(.gz) table (NAS-Bench-201's format: 'cellstr' or 'arch' column)."""

    kind: Literal["table"] = "table"
    table: str | None = opt(None, "table evaluator: CSV(.gz) with a 'cellstr' or 'arch' column and one column per "
                                  "metric (the NAS-Bench-201 table format)", "--table")
    metric: str = opt("cifar10-val", "table column the search optimizes", "--metric")
    report_metrics: CommaList = opt(["cifar10-test"], "comma-separated columns reported for the result, never "
                                                      "searched on", "--report-metrics")
    mode: Literal["max", "min"] = opt("max", "whether the metric is maximized (accuracy) or minimized (error)",
                                      "--mode")


@dataclass(frozen=True)
class StandaloneTraining:
    """How an image evaluator trains networks stand-alone (the ws re-ranking, or every child): the recipe the
    random baseline shares and the timings the printed next step scales from. One accessor, so that code
    reading it need not know which evaluator holds which field."""

    layers: int
    channels: int
    epochs: int
    batch_size: int
    lr: float
    steps: int | None  # at most this many steps per epoch


class _ImageEvaluator(Section):
    layers: Int = opt(1, "cells per stage N of the supernet / children", "--layers", ge=1)
    channels: Int = opt(8, "filters F of the supernet / children", "--channels", ge=1)
    batch_size: Int = opt(64, "training batch of the supernet / children", "--batch-size", ge=1)
    valid_size: Int = opt(1000, "training images held out for validation", "--valid-size", ge=1)
    drop_path_keep: Float = opt(1.0, "drop-path keep probability (1 = off)", "--drop-path-keep", gt=0, le=1)
    weight_decay: Float = opt(3e-4, "L2 weight decay", None, ge=0)
    max_params: Int | None = opt(None, "never evaluate nor propose architectures whose stand-alone network has more "
                                       "trainable parameters than this", "--max-params",
                                 "a positive number of parameters", ge=1)
    baseline_cache: str = opt(STANDALONE_CACHE, "stand-alone accuracies of random architectures (the file 'nao-tf "
                                                "benchmark ws-ranking' writes) the winner is compared with; when it "
                                                "lacks the run's recipe, the distribution shipped with nao-tf for "
                                                "the default preset is used", "--baseline-cache", min_length=1)
    final_train_seconds: Float = opt(600.0, "seconds the printed 'nao-tf train' next step should take on the "
                                            "machine the search ran on (small datasets; CIFAR gets the paper's "
                                            "recipe)", "--final-train-seconds", gt=0)


class WsConfig(_ImageEvaluator):
    """NAO-WS: one weight-sharing supernet scores every architecture of ``nasnet-ws`` on one validation batch;
    the best are re-ranked by short stand-alone training at the end."""

    kind: Literal["ws"] = "ws"
    eval_images: Int = opt(500, "ws: validation images each architecture is scored on (one batch)", "--eval-images",
                           ge=1)
    warmup_epochs: Float = opt(1.0, "ws: supernet epochs before the first scoring", "--warmup-epochs", ge=0)
    epochs_per_round: Float = opt(1.0, "ws: supernet epochs per later round", "--epochs-per-round", ge=0)
    pool_size: Int = opt(0, "ws: architectures the supernet trains on (the round's batch plus the best so far)",
                         "--pool-size", ge=0)
    train_on: Literal["pool", "uniform"] = opt(
        "pool", "ws: architectures each supernet step trains: 'pool' (drawn from the round's pool, as NAO-WS) "
                "or 'uniform' (a fresh random architecture of the space every step, fair to unseen ones)",
        "--ws-train-on")
    lr: Float = opt(0.025, "ws: supernet learning rate (cosine)", "--ws-lr", gt=0)
    lr_min: Float = opt(0.001, "ws: final supernet learning rate", "--ws-lr-min", ge=0)
    grad_clip: Float = opt(5.0, "ws: global gradient-norm clip", None, gt=0)
    select: Literal["switch", "onehot"] = opt("switch", "ws: how the supernet picks an op from the architecture "
                                                        "tensor", "--select")
    rerank_top: Int = opt(3, "ws: best architectures re-ranked by stand-alone training at the end (0: none)",
                          "--rerank-top", ge=0)
    rerank_epochs: Int = opt(2, "ws: epochs of each stand-alone re-ranking", "--rerank-epochs", ge=1)
    rerank_layers: Int | None = opt(None, "ws: N of the re-ranked networks (default: --layers)", "--rerank-layers",
                                    ge=1)
    rerank_channels: Int | None = opt(None, "ws: F of the re-ranked networks (default: --channels)",
                                      "--rerank-channels", ge=1)
    rerank_batch_size: Int = opt(64, "ws: batch of the re-ranked networks", None, ge=1)
    rerank_lr: Float = opt(0.025, "ws: learning rate (cosine) of the stand-alone re-ranking, apart from the "
                                  "supernet's --ws-lr so that tuning the supernet keeps the same ground truth",
                           "--rerank-lr", gt=0)
    rerank_steps: Int | None = opt(None, "ws re-ranking / child: at most this many steps per epoch", "--child-steps",
                                   ge=1)

    def standalone(self) -> StandaloneTraining:
        """The re-ranking's training (N and F default to the supernet's)."""
        return StandaloneTraining(self.rerank_layers or self.layers, self.rerank_channels or self.channels,
                                  self.rerank_epochs, self.rerank_batch_size, self.rerank_lr, self.rerank_steps)

    @model_validator(mode="after")
    def _valid_holds_eval(self) -> WsConfig:
        if self.valid_size < self.eval_images:
            raise ValueError(f"--valid-size {self.valid_size} must hold the --eval-images {self.eval_images} "
                             "images each architecture is scored on")
        return self


class ChildConfig(_ImageEvaluator):
    """Full NAO on images: every architecture trains its own child network (optionally on keras-tuner workers)."""

    kind: Literal["child"] = "child"
    epochs: Int = opt(1, "child: epochs per child", "--child-epochs", ge=1)
    lr: Float = opt(0.024, "child: learning rate (cosine)", "--child-lr", gt=0)
    steps_per_epoch: Int | None = opt(None, "ws re-ranking / child: at most this many steps per epoch",
                                      "--child-steps", ge=1)
    aux_head: bool = opt(False, "child: train with the auxiliary head (weight 0.4)", "--aux-head")
    cutout: Int = opt(0, "child: cutout size (0 = off)", None, ge=0)
    isolate: bool = opt(True, "child: train each child in its own process (memory stays flat)", None)
    workers: Int = opt(0, "child: serve trials to this many 'nao-tf worker' processes (keras-tuner chief) instead "
                          "of training here", "--workers", ge=0)
    host: str = opt("127.0.0.1", "chief: address to listen on", "--host", min_length=1)
    port: Int = opt(0, "chief: gRPC port on --host (0: a free port)", "--port", ge=0, le=65535)
    trial_timeout: Float = opt(600.0, "chief: seconds after which a trial whose worker went silent is handed to "
                                      "another worker", "--trial-timeout", gt=0)

    def standalone(self) -> StandaloneTraining:
        """Every child's training."""
        return StandaloneTraining(self.layers, self.channels, self.epochs, self.batch_size, self.lr,
                                  self.steps_per_epoch)


_DROPOUT = {"ge": 0, "lt": 1}


class _LmEvaluator(Section):
    """Small, fast LM settings for search (the final training uses the full PTB recipe of ``LmConfig``)."""

    hidden: Int = opt(64, "rnn space: hidden size of the LMs", "--lm-hidden", ge=1)
    batch_size: Int = opt(32, "rnn space: training batch of the LMs", None, ge=1)
    eval_batch_size: Int = opt(32, "rnn space: validation batch", None, ge=1)
    bptt: Int = opt(35, "rnn space: BPTT window", None, ge=2)
    embed_dropout: Float = opt(0.0, "LM embedding dropout", None, **_DROPOUT)
    input_dropout: Float = opt(0.1, "LM input dropout", None, **_DROPOUT)
    x_dropout: Float = opt(0.2, "LM cell-input dropout", None, **_DROPOUT)
    hidden_dropout: Float = opt(0.1, "LM recurrent-state dropout", None, **_DROPOUT)
    output_dropout: Float = opt(0.3, "LM output dropout", None, **_DROPOUT)

    def lm_options(self) -> dict[str, Any]:
        """The ``LmConfig`` fields these settings override."""
        return self.model_dump(exclude={"kind", "train_steps", "eval_windows", "epochs", "max_steps"})


class LmWsConfig(_LmEvaluator):
    kind: Literal["lm-ws"] = "lm-ws"
    train_steps: Int = opt(100, "lm-ws: supernet training minibatches per round", "--lm-ws-steps", ge=0)
    eval_windows: Int = opt(1, "lm-ws: validation windows each architecture is scored on", "--lm-eval-windows",
                            ge=1)


class LmChildConfig(_LmEvaluator):
    kind: Literal["lm-child"] = "lm-child"
    epochs: Int = opt(1, "lm-child: epochs per child", "--lm-child-epochs", ge=1)
    max_steps: Int | None = opt(None, "lm-child: at most this many training steps per child", "--lm-child-steps",
                                ge=1)


EVALUATOR_CONFIGS: dict[str, type[Section]] = {"table": TableConfig, "ws": WsConfig, "child": ChildConfig,
                                               "lm-ws": LmWsConfig, "lm-child": LmChildConfig}
EvaluatorConfig = Annotated[Union[TableConfig, WsConfig, ChildConfig, LmWsConfig, LmChildConfig],  # noqa: UP007
                            Field(discriminator="kind")]


class DataConfig(Section):
    dataset: str = opt("embedded", "images: embedded (a Fashion-MNIST sample shipped with nao-tf), fashion_mnist, "
                                   "cifar10, cifar100; rnn space: embedded, ptb, wikitext2", "--dataset", min_length=1)
    data_dir: str | None = opt(None, "folder holding the dataset files (never downloads)", "--data-dir")


# ----- the tree --------------------------------------------------------------------------------------------------
class SearchConfig(Section):
    """The whole configuration of one search (see the module docstring)."""

    preset: str | None = opt(None, "preset the settings started from: " + "default, paper-ws, paper-full, nb201",
                             "--preset")
    space: str | None = opt(None, "search space (default: the evaluator's: nb201 for table, nasnet-ws for ws, "
                                  "nasnet-full for child, rnn for lm-ws / lm-child)", "--space")
    budget: Int | None = opt(None, "number of distinct architectures to evaluate", "--budget", "at least 1", ge=1)
    seed: Int = opt(0, "random seed (same seed, same architectures)", "--seed", ge=0)
    out: str | None = opt(None, "new run folder (default runs/<method>-<evaluator>-<dataset, or the table's space>-"
                                "seed<seed>)", "--out")
    method: MethodConfig = Field(default_factory=MethodConfig)
    controller: ControllerSection = Field(default_factory=ControllerSection)  # type: ignore[valid-type]
    evaluator: EvaluatorConfig = Field(default_factory=WsConfig)
    data: DataConfig = Field(default_factory=DataConfig)

    @model_validator(mode="after")
    def _space_fits(self) -> SearchConfig:
        from nao_tf.spaces import SPACES

        if self.space is None:
            self.__dict__["space"] = default_space(self.evaluator.kind)
        if self.space not in SPACES:
            raise ValueError(f"unknown search space {self.space!r}; valid spaces: {', '.join(SPACES)}")
        allowed = EVALUATOR_SPACES[self.evaluator.kind]
        if allowed is not None and self.space not in allowed:
            hint = ("; use --evaluator child for nasnet-full" if self.evaluator.kind == "ws" else
                    "; use --space rnn" if self.evaluator.kind.startswith("lm") else "")
            raise ValueError(f"the {self.evaluator.kind} evaluator searches {' or '.join(allowed)}, not "
                             f"{self.space!r}{hint}")
        return self

    # ----- derived values ----------------------------------------------------------------------------------
    def default_out(self) -> Path:
        """The one default run-folder name: ``runs/<method>-<evaluator>-<what it learns from>-seed<seed>``, where
        what it learns from is the dataset (the table's space for the table evaluator)."""
        subject = self.space if self.evaluator.kind == "table" else self.data.dataset
        return Path("runs") / f"{self.method.name}-{self.evaluator.kind}-{subject}-seed{self.seed}"

    def planned_rounds(self) -> int:
        """Rounds NAO needs for the budget (the weight-sharing learning-rate schedule spans them)."""
        nao = self.method.nao
        budget = int(self.budget or 1)
        return 1 + max(0, math.ceil((budget - nao.initial_pool) / max(1, nao.per_round)))

    def controller_overrides(self) -> dict[str, Any]:
        """The controller settings that differ from the space's preset (``ControllerConfig.for_space``)."""
        return self.controller.model_dump(exclude_none=True, exclude={"checkpoint"})

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def default_space(kind: str) -> str:
    return {"table": "nb201", "ws": "nasnet-ws", "child": "nasnet-full"}.get(kind, "rnn")


# ----- errors ----------------------------------------------------------------------------------------------------
def _field_info(path: tuple[Any, ...], kind: str | None) -> tuple[str | None, str, str | None]:
    """(flag, dotted key) of a pydantic error location (``("evaluator", "ws", "channels")`` is
    ``evaluator.channels`` of the ws evaluator)."""
    parts = [str(p) for p in path]
    if len(parts) > 1 and parts[0] == "evaluator" and parts[1] in EVALUATOR_KINDS:
        kind, parts = parts[1], ["evaluator", *parts[2:]]
    model: Any = SearchConfig
    flag = expect = None
    for part in parts:
        if part == "evaluator" and model is SearchConfig:
            model = EVALUATOR_CONFIGS.get(kind or "", WsConfig)
            continue
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            flag = expect = None
            break
        info = fields[part]
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        flag, expect = extra.get("flag"), extra.get("expect")
        ann = info.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return flag, ".".join(parts), expect


def _describe(err: Mapping[str, Any]) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    got = f", got {value!r}" if kind != "missing" else ""
    if kind == "extra_forbidden":
        return "is not a known setting"
    if kind in ("int_from_float", "int_parsing", "int_type"):
        return f"must be an integer{got}"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number{got}"
    if kind == "finite_number":
        return f"must be a finite number{got}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false{got}"
    if kind in ("string_type",):
        return f"must be a string{got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping of settings{got}"
    if kind == "list_type":
        return f"must be a list{got}"
    if kind == "literal_error":
        return f"must be {ctx.get('expected', 'one of the listed values')}{got}"
    if kind == "greater_than_equal":
        bound = ctx.get("ge")
        return (f"must be a positive integer{got}" if bound == 1 else
                f"must be a positive number or 0{got}" if bound == 0 else f"must be >= {bound}{got}")
    if kind == "greater_than":
        return f"must be positive{got}" if ctx.get("gt") == 0 else f"must be > {ctx.get('gt')}{got}"
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        return f"must be {'at most' if kind == 'less_than_equal' else 'below'} {bound}{got}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "union_tag_invalid":
        return f"must be one of {', '.join(EVALUATOR_KINDS)}, got {ctx.get('tag')!r}"
    if kind == "missing":
        return "is required"
    if kind == "value_error":
        return str(err.get("msg", "")).removeprefix("Value error, ")
    return str(err.get("msg", "is invalid"))


def config_error(exc: ValidationError, source: str = "", kind: str | None = None) -> ConfigError:
    """One line naming the first bad key (its flag too, when it has one) and what is expected."""
    err = exc.errors()[0]
    path = tuple(err.get("loc") or ())
    where = f" in {source}" if source else ""
    what = _describe(err)
    if err["type"] == "value_error" and len(path) <= (2 if path and path[0] == "evaluator" else 1):
        return ConfigError(f"{what}{where}")
    flag, key, expect = _field_info(path, kind)
    if expect and err["type"] in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        what = f"must be {expect}, got {err.get('input')!r}"
    if err["type"] == "extra_forbidden":
        return ConfigError(f"unknown setting {key!r}{where}; see 'nao-tf search --help' or docs/configuration.md "
                           "for the valid keys")
    label = f"{flag} (config key {key})" if flag else f"config key {key}"
    if flag and err["type"] in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        label = flag  # '--max-params must be a positive integer, got 0 (config key ...)'
        return ConfigError(f"{label} {what}{where} (config key {key})")
    return ConfigError(f"{label} {what}{where}")


def validate(tree: Mapping[str, Any], source: str = "") -> SearchConfig:
    """A ``SearchConfig`` from a nested mapping; ``ConfigError`` (one line, naming the key) if it is wrong."""
    if not isinstance(tree, Mapping):
        raise ConfigError(f"{source or 'the configuration'} must be a mapping of settings, not "
                          f"{type(tree).__name__}")
    kind = None
    ev = tree.get("evaluator")
    if isinstance(ev, Mapping):
        kind = ev.get("kind")
    try:
        return SearchConfig.model_validate(dict(tree))
    except ValidationError as exc:
        raise config_error(exc, source, kind if isinstance(kind, str) else None) from None


# ----- flags -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlagSpec:
    """One command-line flag: where its value goes in the tree (per evaluator kind for evaluator fields)."""

    flag: str
    paths: dict[str | None, tuple[str, ...]]  # evaluator kind (None: any) -> path in the tree
    help: str
    choices: tuple[str, ...] | None
    is_bool: bool


def _literal_choices(annotation: Any) -> tuple[str, ...] | None:
    if typing.get_origin(annotation) is Literal:
        return tuple(str(a) for a in typing.get_args(annotation))
    return None


def _default_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def flag_specs() -> list[FlagSpec]:
    """Every flag of the tree, in tree order; help strings carry the defaults (generated, never typed twice)."""
    specs: dict[str, dict[str, Any]] = {}

    def visit(model: type[BaseModel], prefix: tuple[str, ...], kind: str | None) -> None:
        for name, info in model.model_fields.items():
            ann = info.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                visit(ann, (*prefix, name), kind)
                continue
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            flag = extra.get("flag")
            if not flag:
                continue
            spec = specs.setdefault(flag, {"paths": {}, "helps": [], "choices": _literal_choices(ann),
                                           "is_bool": ann is bool})
            spec["paths"][kind] = (*prefix, name)
            default = None if info.default is None or ann is bool else _default_text(info.default)
            if name == "epochs" and prefix == ("controller",):
                default = "per space: 1000, or what the preset sets"
            text = str(info.description) + (f" (default {default})" if default not in (None, "") else "")
            if text not in spec["helps"]:
                spec["helps"].append(text)

    visit(SearchConfig, (), None)
    for kind, model in EVALUATOR_CONFIGS.items():
        visit(model, ("evaluator",), kind)
    return [FlagSpec(flag, s["paths"], "; ".join(s["helps"]), s["choices"], s["is_bool"]) for flag, s in
            specs.items()]


# ----- resolution: preset < config file < flags --------------------------------------------------------------------
FLAT_SECTION_KEYS = {"method": ("method", "name"), "evaluator": ("evaluator", "kind"),
                     "controller": ("controller", "checkpoint")}


def _deep_merge(low: dict[str, Any], high: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(low)
    for key, value in high.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


def _flags_by_name() -> dict[str, FlagSpec]:
    out = {}
    for spec in flag_specs():
        out[spec.flag] = spec
        out[spec.flag.lstrip("-")] = spec
        out[spec.flag.lstrip("-").replace("-", "_")] = spec
    return out


def parse_controller_set(items: Any, source: str = "--controller-set") -> dict[str, Any]:
    """``KEY=VALUE`` items (a string or a list of them; values parsed as JSON when they are JSON) -> dict.
    The one parser of controller settings given as text (flags, config files, benchmarks)."""
    import json

    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list | tuple):
        raise ConfigError(f"{source} expects KEY=VALUE items, got {items!r}")
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(f"{source} expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(value.strip())
        except ValueError:
            out[key.strip()] = value.strip()
    return out


class Layer:
    """One source of settings (preset, config file or flags), split into the evaluator part, which can only be
    placed once the evaluator kind is known, and everything else (a nested tree)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tree: dict[str, Any] = {}
        self.evaluator: dict[str, Any] = {}  # evaluator settings in the nested form
        self.evaluator_flags: dict[str, Any] = {}  # flag name -> value
        self.kind: str | None = None

    @classmethod
    def from_flat(cls, values: Mapping[str, Any], source: str) -> Layer:
        """Flag names (``--layers``, ``layers``, ``child-epochs``) or section names with mappings (the tree)."""
        layer = cls(source)
        specs = _flags_by_name()
        for key, value in values.items():
            key = str(key).strip()
            section = key.lstrip("-").replace("-", "_")
            if section == "nao_tf_version":  # written into config.json: a run's config is a valid config file
                continue
            if section in SearchConfig.model_fields and isinstance(value, Mapping):
                layer.add_tree({section: value})
                continue
            if section in ("controller_set",):
                layer.add_tree({"controller": parse_controller_set(value, f"controller-set in {source}")})
                continue
            if section in FLAT_SECTION_KEYS and not isinstance(value, Mapping):
                path = FLAT_SECTION_KEYS[section]
                if section == "evaluator":
                    layer.kind = value if value is None else str(value)
                else:
                    _set(layer.tree, path, value)
                continue
            spec = specs.get(key) or specs.get(section)
            if spec is None:
                names = sorted({s.flag.lstrip("-") for s in specs.values()} | {"evaluator", "controller-set"})
                raise ConfigError(f"unknown key {key!r} in {source}; valid keys: {', '.join(names)} (or the "
                                  f"sections {', '.join(SearchConfig.model_fields)} as mappings)")
            if None in spec.paths:
                _set(layer.tree, spec.paths[None], value)
            else:
                layer.evaluator_flags[spec.flag] = value
        return layer

    def add_tree(self, tree: Mapping[str, Any]) -> None:
        tree = dict(tree)
        ev = tree.pop("evaluator", None)
        if ev is not None:
            if not isinstance(ev, Mapping):
                raise ConfigError(f"evaluator in {self.source} must be a kind ({', '.join(EVALUATOR_KINDS)}) or a "
                                  "mapping of evaluator settings")
            ev = dict(ev)
            if "kind" in ev:
                self.kind = ev.pop("kind")
            self.evaluator = _deep_merge(self.evaluator, ev)
        self.tree = _deep_merge(self.tree, tree)

    def evaluator_for(self, kind: str) -> dict[str, Any]:
        """This layer's evaluator settings for ``kind``; a flag that does not apply to it is an error."""
        out = dict(self.evaluator)
        specs = _flags_by_name()
        for flag, value in self.evaluator_flags.items():
            paths = specs[flag].paths
            if kind not in paths:
                users = ", ".join(k for k in paths if k)
                raise ConfigError(f"{flag} ({self.source}) does not apply to the {kind} evaluator; it is a setting "
                                  f"of: {users}")
            out[paths[kind][-1]] = value
        return out


def _epochs_beat_steps(layer: Layer) -> None:
    """Controller epochs given without steps win over a lower layer's fixed step count (the nb201 preset)."""
    ctrl = layer.tree.get("controller")
    if isinstance(ctrl, Mapping) and "epochs" in ctrl and "steps" not in ctrl:
        layer.tree["controller"] = {**ctrl, "steps": 0}


def _pick_kind(layers: list[Layer], preset_layer: Layer | None) -> str:
    """The evaluator kind: given explicitly (flags > file), else 'table' when a table is given, else the preset's
    unless the space rules it out, else the space's own, else the default preset's (ws)."""
    for layer in reversed(layers):
        if layer.kind:
            if layer.kind not in EVALUATOR_KINDS:
                raise ConfigError(f"unknown evaluator {layer.kind!r} ({layer.source}); expected one of "
                                  f"{', '.join(EVALUATOR_KINDS)}")
            return layer.kind
    if any("--table" in ly.evaluator_flags or "table" in ly.evaluator for ly in layers):
        return "table"  # a table scores any space it covers
    space = next((ly.tree["space"] for ly in reversed(layers) if ly.tree.get("space")), None)
    if preset_layer is not None and preset_layer.kind:
        allowed = EVALUATOR_SPACES[preset_layer.kind]
        if space is None or allowed is None or space in allowed:
            return preset_layer.kind
    if space is not None:
        if space not in SPACE_EVALUATORS:
            from nao_tf.spaces import SPACES

            if space not in SPACES:
                raise ConfigError(f"unknown search space {space!r}; valid spaces: {', '.join(SPACES)}")
            return "table"
        return SPACE_EVALUATORS[space]
    return "ws"


def _implicit_preset(kind: str, space: str | None) -> str | None:
    if kind in ("ws", "child"):
        return "default"
    if kind == "table" and space in (None, "nb201"):
        return "nb201"
    return None


def _method_name(*layers: Layer) -> str | None:
    """The method the file or the flags choose (flags win), if any."""
    for layer in reversed(layers):
        method = layer.tree.get("method")
        if isinstance(method, Mapping) and method.get("name"):
            return str(method["name"])
    return None


def _preset_layer(named: str, method: str | None) -> Layer:
    """Preset ``named`` as the lowest layer, with its ``for_method`` variant of the method the search runs merged
    in (so a method's own tuned settings, like SemiNAS's top-k in ``nb201``, are preset defaults that a config
    file or a flag still overrides, whichever section they live in)."""
    from nao_tf.search.presets import get_preset

    tree = get_preset(named)
    variants = tree.pop("for_method", {})
    layer = Layer(f"preset {named!r}")
    layer.add_tree(tree)
    chosen = method or layer.tree.get("method", {}).get("name") or MethodConfig.model_fields["name"].default
    if chosen in variants:
        layer.add_tree(variants[chosen])
    return layer


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping of a YAML (or JSON) config file; one-line errors for a missing, unreadable or binary file."""
    import yaml

    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
        if "\x00" in text:
            raise UnicodeDecodeError("utf-8", raw, 0, 1, "NUL byte")
    except UnicodeDecodeError:
        raise ConfigError(f"config file {str(path)!r} is not a text (YAML) file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot read config file {str(path)!r}: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must be a mapping of settings (key: value), "
                          f"not a {type(data).__name__}")
    return data


def resolve(preset: str | None = None, config_file: str | Path | None = None,
            overrides: Mapping[str, Any] | None = None) -> SearchConfig:
    """Resolve a search configuration once: preset < config file < ``overrides``.

    ``overrides`` (and the config file) hold flag names (``{"--layers": "2"}``, ``{"budget": 10}``) and/or
    sections of the tree (``{"evaluator": {"kind": "table", "table": "t.csv"}}``). ``preset`` may also be
    given in the file or in ``overrides`` (``preset: paper-ws``); with none, the evaluator's own preset applies
    (``default`` for ws/child, ``nb201`` for the table on nb201). ``ConfigError`` names the first bad key.
    """
    file_layer = Layer.from_flat(read_config_file(config_file), f"config file {str(config_file)!r}") \
        if config_file else Layer("config file")
    flag_layer = Layer.from_flat(overrides or {}, "flags")
    named = preset or flag_layer.tree.get("preset") or file_layer.tree.get("preset")
    method = _method_name(file_layer, flag_layer)
    preset_layer = _preset_layer(str(named), method) if named else None
    kind = _pick_kind([file_layer, flag_layer], preset_layer)
    space = next((ly.tree["space"] for ly in (flag_layer, file_layer) if ly.tree.get("space")), None)
    if preset_layer is None:
        named = _implicit_preset(kind, space)
        if named:
            preset_layer = _preset_layer(named, method)
    layers = [ly for ly in (preset_layer, file_layer, flag_layer) if ly is not None]
    tree: dict[str, Any] = {}
    evaluator: dict[str, Any] = {}
    for layer in layers:
        _epochs_beat_steps(layer)
        low = layer.tree
        if layer is preset_layer and layer.kind not in (None, kind):
            low = {k: v for k, v in low.items() if k != "space"}  # a preset of another evaluator: not its space
        else:
            evaluator = _deep_merge(evaluator, layer.evaluator_for(kind))
        tree = _deep_merge(tree, low)
    tree["evaluator"] = {**evaluator, "kind": kind}
    tree["preset"] = named
    config = validate(tree)
    check_controller(config)
    check_dataset(config)
    return config


def check_controller(config: SearchConfig) -> None:
    """The controller overrides form a valid ``ControllerConfig`` for the space (ranges live there)."""
    from nao_tf.controller.config import ControllerConfig

    ControllerConfig.for_space(str(config.space), **config.controller_overrides())


def check_dataset(config: SearchConfig) -> None:
    """The dataset fits the evaluator (images for ws/child, a corpus for lm-*); stores its canonical name."""
    kind = config.evaluator.kind
    if kind in ("ws", "child"):
        from nao_tf.data.images import canonical_name

        config.data.dataset = canonical_name(config.data.dataset)
    elif kind.startswith("lm"):
        from nao_tf.data.text import canonical_dataset

        config.data.dataset = canonical_dataset(config.data.dataset)


def load_saved(path: str | Path) -> SearchConfig:
    """A run folder's ``config.json`` (written by ``save``), re-validated by the same models."""
    from nao_tf.errors import RunFolderError
    from nao_tf.runio import read_run_file

    path = Path(path)
    data = read_run_file(path, "the search run cannot be resumed; restore the file or start a new run")
    if not isinstance(data, dict):
        raise RunFolderError(f"{path} must hold a mapping of settings, not {type(data).__name__}")
    data = {k: v for k, v in data.items() if k != "nao_tf_version"}
    # a saved tree is complete: a missing part means the file is not (or no longer) what nao-tf wrote
    missing = [k for k in ("space", "budget", "seed", "method", "controller", "evaluator", "data") if k not in data]
    if not missing and not (isinstance(data["evaluator"], dict) and "kind" in data["evaluator"]):
        missing = ["evaluator.kind"]
    if missing:
        raise RunFolderError(f"{path} lacks {missing[0]!r}; it is not the configuration of a nao-tf search run "
                             "(or it was damaged), so the run cannot be resumed")
    try:
        return validate(data, str(path))
    except ConfigError as exc:
        raise RunFolderError(f"{exc}; the run cannot be resumed") from None


def save(config: SearchConfig, path: str | Path) -> None:
    """Write ``config.json`` (atomically, with the nao-tf version)."""
    from nao_tf import __version__
    from nao_tf.runio import atomic_write_json

    atomic_write_json(path, {**config.to_json(), "nao_tf_version": __version__})
