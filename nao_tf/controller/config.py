"""Controller settings: model sizes, training and generation, with presets from docs/method.md section 3.

NumPy/stdlib only (no TensorFlow), so that the CLI can validate a configuration before importing TensorFlow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from nao_tf.errors import ConfigError


@dataclass(frozen=True)
class ControllerConfig:
    """Every size and hyper-parameter of the encoder-predictor-decoder and its training and generation.

    Model: ``tokens_per_step`` tokens are embedded (``embedding_size`` each) and concatenated into one encoder
    step (the authors' WS code feeds 2 tokens per step), one LSTM of ``hidden_size`` encodes, the predictor is
    ``mlp_layers`` x ``mlp_hidden`` ReLU layers (dropout ``mlp_dropout``) then one sigmoid unit, the decoder is
    one LSTM of ``hidden_size`` with its own embedding and dot-product attention over the encoder outputs.

    Training: loss ``trade_off * MSE + (1 - trade_off) * CE``, Adam(``learning_rate``), global-norm clip
    ``grad_clip``, L2 ``l2_reg``, ``epochs`` over the data with batch ``batch_size`` (or, if ``steps`` > 0, as
    many epochs as make at least ``steps`` steps: a fixed cost per search round); targets normalized by
    ``target_transform`` ("minmax": the authors' min-max to [0, 1]; "rank": quantiles, robust to long tails).
    ``augment`` applies the space's symmetry augmentation (a fresh random variant of each arch every epoch).

    Generation: step sizes ``eta_start, eta_start + eta_step, ... <= eta_max``; ``etas_per_call`` of them (times
    every seed) are decoded in one batched call.

    Speed: ``steps_per_call`` training steps run inside one compiled call (a ``tf.while_loop`` over
    pre-drawn batch indices; 0: the whole training in one call), so Python runs once per training, not once
    per batch. ``fused_lstm`` runs the LSTMs as TensorFlow's one-op ``BlockLSTM`` kernel when not under XLA
    (same function, about half the time of a training step on a CPU). ``towers`` splits each batch (not under
    XLA) into that many sub-batches with their own forward and backward pass, independent until their
    gradients add up, so TensorFlow's inter-op threads run them at the same time: the recurrences are
    sequential and their matrices small, so one batch alone keeps barely more than one core busy.
    ``jit_compile`` compiles training with XLA, ``generate_jit`` generation and reconstruction (None: as
    ``jit_compile``; the ``ws`` preset sets it). Measured on the 2-core CPU: XLA compiles the 40-token nasnet-ws
    training step for minutes and runs it slower, but makes generation faster; for NB201's 6-token cells the
    XLA training step is faster.
    """

    # model
    embedding_size: int = 32
    hidden_size: int = 96
    tokens_per_step: int = 1
    mlp_layers: int = 3
    mlp_hidden: int = 200
    mlp_dropout: float = 0.1
    encoder_dropout: float = 0.0
    decoder_dropout: float = 0.0
    # training
    trade_off: float = 0.8
    learning_rate: float = 1e-3
    l2_reg: float = 1e-4
    grad_clip: float = 5.0
    batch_size: int = 100
    epochs: int = 1000
    steps: int = 0
    target_transform: str = "minmax"
    augment: bool = True
    steps_per_call: int = 0
    fused_lstm: bool = True
    towers: int = 2
    jit_compile: bool = False
    generate_jit: bool | None = None
    # generation
    eta_start: float = 1.0
    eta_step: float = 1.0
    eta_max: float = 50.0
    etas_per_call: int = 4
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        positive = ("embedding_size", "hidden_size", "tokens_per_step", "mlp_hidden", "batch_size", "etas_per_call",
                "towers")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"controller {name} must be >= 1, got {getattr(self, name)}")
        if self.mlp_layers < 0 or self.epochs < 0 or self.steps < 0 or self.steps_per_call < 0:
            raise ConfigError("controller mlp_layers, epochs, steps and steps_per_call must be >= 0")
        if not 0.0 <= self.trade_off <= 1.0:
            raise ConfigError(f"controller trade_off must be in [0, 1], got {self.trade_off}")
        for name in ("mlp_dropout", "encoder_dropout", "decoder_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"controller {name} must be in [0, 1), got {getattr(self, name)}")
        if self.target_transform not in ("minmax", "rank"):
            raise ConfigError(f"controller target_transform must be minmax or rank, got {self.target_transform!r}")
        if self.eta_step <= 0 or self.eta_max < self.eta_start:
            raise ConfigError("controller step sizes need eta_step > 0 and eta_max >= eta_start")

    # ----- presets ---------------------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ControllerConfig:
        """``paper`` (embedding 32, 1 token per step), ``ws`` (the authors' NAO-WS PyTorch sizes: embedding
        48, 2 tokens per step, hidden 96, predictor 3 x 200 with dropout 0.1) or ``nb201`` (the sizes this
        project tuned on NAS-Bench-201's cifar10 columns; see the README)."""
        presets = {
            "paper": {},
            "ws": {"embedding_size": 48, "tokens_per_step": 2, "generate_jit": True},
            # NB201 (tuned on the cifar10-val column, 1000 train / 500 held-out, seed 0): a smaller predictor,
            # quantile targets and a larger learning rate generalized best. Pairwise accuracy / reconstruction:
            # lr 1e-3 + L2 1e-4 (the authors'), 200 epochs: 0.74 / 0.96; lr 1e-2, no L2: 0.77 / 1.0; lr 1e-2 + L2
            # 1e-4: 0.83 / 0.88; lr 1e-2, no L2, predictor dropout 0.2: 0.82 / 1.0 (chosen: both targets).
            "nb201": {
                "embedding_size": 32, "hidden_size": 64, "mlp_layers": 2, "mlp_hidden": 100, "mlp_dropout": 0.2,
                "epochs": 300, "learning_rate": 1e-2, "l2_reg": 0.0, "target_transform": "rank",
                "eta_max": 30.0, "etas_per_call": 10, "jit_compile": True,
            },
        }
        if name not in presets:
            raise ConfigError(f"unknown controller preset {name!r}; expected one of {', '.join(presets)}")
        return cls.from_dict({**presets[name], **overrides})

    @classmethod
    def for_space(cls, space_name: str, **overrides: Any) -> ControllerConfig:
        """The default preset of a space: ``ws`` for the NASNet spaces, ``nb201`` for NAS-Bench-201."""
        if space_name.startswith("nasnet"):
            return cls.preset("ws", **overrides)
        if space_name == "nb201":
            return cls.preset("nb201", **overrides)
        return cls.preset("paper", **overrides)

    # ----- (de)serialization -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ControllerConfig:
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"unknown controller setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            default = known[key].default
            try:
                if key == "generate_jit":
                    values[key] = None if value is None else (
                        value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes"))
                elif isinstance(default, bool):
                    values[key] = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
                elif isinstance(default, int):
                    values[key] = int(value)
                elif isinstance(default, float):
                    values[key] = float(value)
                else:
                    values[key] = value
            except (TypeError, ValueError):
                raise ConfigError(f"controller setting {key}={value!r} has the wrong type") from None
        return cls(**values)

    @property
    def generation_jit(self) -> bool:
        """Whether generation and reconstruction are XLA-compiled."""
        return bool(self.jit_compile if self.generate_jit is None else self.generate_jit)

    @property
    def training_fused(self) -> bool:
        """Whether training runs the one-op LSTM kernels (``fused_lstm``; they have no XLA kernel)."""
        return bool(self.fused_lstm and not self.jit_compile)

    def replace(self, **changes: Any) -> ControllerConfig:
        return self.from_dict({**self.to_dict(), **changes})

    def model_dict(self) -> dict[str, Any]:
        """The settings that define the network's shapes (what a checkpoint must agree on)."""
        keys = ("embedding_size", "hidden_size", "tokens_per_step", "mlp_layers", "mlp_hidden")
        return {k: getattr(self, k) for k in keys}

    def step_sizes(self) -> list[float]:
        out, eta = [], self.eta_start
        while eta <= self.eta_max + 1e-9:
            out.append(round(eta, 6))
            eta += self.eta_step
        return out
