"""Settings of image searches: presets, ``--config FILE`` (YAML) and command-line flags, merged in that order.

Keys are the long flag names of ``nao-tf search`` (``max-params`` or ``max_params``). Precedence: a flag given
on the command line > the config file > the preset (``--preset``, or ``preset:`` in the file) > ``default``.

- ``default``: what bare ``nao-tf search`` runs: NAO-WS on the embedded Fashion-MNIST sample, small enough
  for a laptop CPU (about 10 minutes on 2 cores).
- ``paper-ws``: NAO-WS at the paper's scale on CIFAR-10 (docs/method.md section 5: 600 seeds, N=3, F=20, 150 supernet
  epochs with a controller round every 30, batch 64, lr 0.025 -> 0.001 cosine, top 5 re-ranked by 10 epochs
  of stand-alone training).
- ``paper-full``: full NAO on CIFAR-10 (docs/method.md section 5: each child N=3, F=32, 25 epochs, batch 128, cosine lr
  0.024, drop-path keep 0.7, auxiliary head, 45k/5k split; 600 initial, 300 new per round from the top 100).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nao_tf.errors import ConfigError

PRESETS: dict[str, dict[str, Any]] = {
    "default": {
        "evaluator": "ws", "space": "nasnet-ws", "dataset": "embedded", "method": "nao",
        "layers": 1, "channels": 8, "batch_size": 64, "valid_size": 1000, "eval_images": 500,
        "warmup_epochs": 1.0, "epochs_per_round": 0.5, "pool_size": 30,
        "initial_pool": 30, "per_round": 15, "top_k": 15, "budget": 75, "controller_epochs": 150,
        "rerank_top": 3, "rerank_epochs": 2,
        # a few hundred controller steps: compiling them with XLA costs more than it saves on a CPU
        "controller_set": ["jit_compile=false"],
    },
    "paper-ws": {
        "evaluator": "ws", "space": "nasnet-ws", "dataset": "cifar10", "method": "nao",
        "layers": 3, "channels": 20, "batch_size": 64, "valid_size": 5000, "eval_images": 500,
        "warmup_epochs": 30.0, "epochs_per_round": 30.0, "pool_size": 600, "ws_lr": 0.025, "ws_lr_min": 0.001,
        "initial_pool": 600, "per_round": 300, "top_k": 100, "budget": 1800, "controller_epochs": 1000,
        "rerank_top": 5, "rerank_epochs": 10, "rerank_layers": 3, "rerank_channels": 20,
    },
    "paper-full": {
        "evaluator": "child", "space": "nasnet-full", "dataset": "cifar10", "method": "nao",
        "layers": 3, "channels": 32, "child_epochs": 25, "batch_size": 128, "child_lr": 0.024,
        "drop_path_keep": 0.7, "aux_head": True, "valid_size": 5000,
        "initial_pool": 600, "per_round": 300, "top_k": 100, "budget": 1500, "controller_epochs": 1000,
    },
}


def preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return dict(PRESETS[name])


def read_config(path: str | Path, valid_keys: list[str]) -> dict[str, Any]:
    """The mapping of a YAML config file, keys normalized to flag destinations and checked."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except (OSError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot read config file {str(path)!r}: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must be a mapping of settings (key: value), "
                          f"not a {type(data).__name__}")
    out = {}
    for key, value in data.items():
        dest = str(key).strip().replace("-", "_")
        if dest not in valid_keys:
            raise ConfigError(f"unknown key {key!r} in config file {str(path)!r}; valid keys: "
                              f"{', '.join(k.replace('_', '-') for k in sorted(valid_keys))}")
        out[dest] = value
    return out


def merge(explicit: dict[str, Any], config: dict[str, Any], preset_name: str | None) -> dict[str, Any]:
    """preset < config file < explicit flags."""
    name = preset_name or config.get("preset") or "default"
    merged = preset(str(name))
    sets = list(merged.get("controller_set") or [])
    merged.update({k: v for k, v in config.items() if k != "preset"})
    merged.update(explicit)
    # controller settings accumulate (KEY=VALUE items; a later one wins for the same key)
    for source in (config, explicit):
        items = source.get("controller_set") or []
        sets += [items] if isinstance(items, str) else list(items)
    merged["controller_set"] = sets
    merged["preset"] = str(name)
    return merged
