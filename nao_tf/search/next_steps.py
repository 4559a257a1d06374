"""What to do with a search's winner: ``nao-tf train`` and ``nao-tf export`` commands that fit the data and the
machine the search ran on.

The paper's final recipe (N=6, F=36, 600 epochs, ``nao-tf train``'s defaults) is right for CIFAR on a GPU, and
wrong for a first run on a 2-core laptop with the 6,000-image sample: about 70 hours. So for every dataset but
CIFAR the printed command trains the winner at a size and epoch count that fit ``final_train_seconds`` (600 s
by default) *on this machine*: the search has just timed stand-alone training here (the re-ranked networks,
or every child). Time per epoch grows with the images seen and, on a CPU, much less than in proportion to the
parameters: small networks are dominated by per-image overhead. Measured on a 2-core CPU (one run, a loaded
machine; 28x28 images, ``nao-tf train``'s recipe), seconds per training image relative to N=1 F=8 (53k
parameters): F=16 1.22x (177k), N=2 F=24 1.97x (603k), N=3 F=32 4.3x (1.42M); ``time per image ~
(PARAMS_OVERHEAD + params)`` with 400k gives 1.27x, 2.2x and 4.0x. ``nao-tf train``'s recipe (auxiliary head,
augmentation, drop-path, batch 128) cost ``RECIPE_OVERHEAD`` = 2.5 times the re-ranking's per image (measured
2.55 at N=1 F=8). The estimate is stated with the command, and ``nao-tf train`` prints its own after the first
epoch.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from shlex import quote
from typing import Any

from nao_tf.timing import format_duration

PAPER_DATASETS = ("cifar10", "cifar100")
VALID_COST = 1 / 3  # an image scored costs about a third of an image trained (forward pass only)
RECIPE_OVERHEAD = 2.5  # nao-tf train's recipe per image / the re-ranking's (measured 2.55 at N=1 F=8)
PARAMS_OVERHEAD = 400_000  # per-image time ~ (this + parameters): see the module docstring
STARTUP_SECONDS = 45.0  # building and tracing the network before the first step, and at the first validation
# tracing inside each timed re-ranking / child (measured about 24 s on the 2-core CPU); at most this share of
# a timed training is taken for it, so tiny test-size trainings are not all overhead
TRACE_SECONDS, TRACE_SHARE = 25.0, 0.7
MIN_EPOCHS = 10  # a size is only worth it if it trains at least this long
MAX_EPOCHS = 30  # beyond this the small datasets gain little; spend the time on a larger network instead
WIDTHS = (1, 2, 3, 4)  # candidate F as multiples of the measured one
MAX_LAYERS = 6  # the paper's N


def measurements(final: dict[str, Any], search: Any, evaluator: Any) -> list[dict[str, Any]]:
    """The stand-alone trainings this search timed: {seconds, epochs, params, train_images, valid_images}; the
    seconds without the tracing before the first step (``STARTUP_SECONDS`` adds it back once)."""
    n_train = len(evaluator.split.data.x_train)
    st, valid = evaluator.settings.standalone(), evaluator.settings.valid_size
    if evaluator.name == "ws":
        rows = [(r.get("seconds"), r.get("params"), r.get("epochs", st.epochs)) for r in final.get("reranked", [])]
    else:
        rows = [(e.metadata.get("seconds"), e.metadata.get("params"), st.epochs) for e in search.history]
    per_epoch = (n_train - valid) // st.batch_size
    if st.steps is not None:
        per_epoch = min(per_epoch, st.steps)
    return [{"seconds": float(sec) - min(TRACE_SECONDS, TRACE_SHARE * float(sec)), "epochs": int(ep),
             "params": int(p), "train_images": per_epoch * st.batch_size,
             "valid_images": int(valid)}
            for sec, p, ep in rows if isinstance(sec, int | float) and sec > 0 and isinstance(p, int) and p > 0]


def seconds_per_unit(measured: list[dict[str, Any]]) -> float | None:
    """Median seconds per (image trained x (PARAMS_OVERHEAD + parameters)) over the timed trainings (None when
    nothing was timed)."""
    rates = [m["seconds"] / (m["epochs"] * (m["train_images"] + VALID_COST * m["valid_images"])
                             * (PARAMS_OVERHEAD + m["params"])) for m in measured]
    return statistics.median(rates) if rates else None


def epoch_seconds(rate: float, params: int, train_images: int, valid_images: int) -> float:
    """Predicted seconds of one ``nao-tf train`` epoch of a ``params`` network."""
    return rate * (PARAMS_OVERHEAD + params) * (train_images + VALID_COST * valid_images) * RECIPE_OVERHEAD


def plan_training(config: Any, final: dict[str, Any], search: Any, evaluator: Any, run_dir: Path) -> dict[str, Any]:
    """``final.json``'s ``next_steps``: the train command (size, epochs, estimate), the export command and
    what the estimate rests on."""
    from nao_tf.children.params import count_params
    from nao_tf.children.train_cnn import TrainConfig

    data = evaluator.split.data
    space = search.space
    winner = space.parse_integers(final["integers"])
    dataset = config.data.dataset
    measured = measurements(final, search, evaluator)
    rate = seconds_per_unit(measured)
    paper = TrainConfig()
    n_train, n_test = len(data.x_train), len(data.x_test)
    standalone = evaluator.settings.standalone()
    # a search shortened by --child-steps gets a train command shortened the same way (tests, quick looks)
    steps = standalone.steps
    if dataset in PAPER_DATASETS:
        steps = None
    train_images = (n_train // paper.batch_size) * paper.batch_size
    if steps is not None:
        train_images = min(train_images, steps * paper.batch_size)
    classes, in_ch = int(data.num_classes), int(data.x_train.shape[-1])

    def per_epoch(layers: int, channels: int) -> float | None:
        if rate is None:
            return None
        return epoch_seconds(rate, count_params(winner, layers, channels, classes, in_ch), train_images, n_test)

    base_n, base_f = standalone.layers, standalone.channels
    budget = float(config.evaluator.final_train_seconds)
    if dataset in PAPER_DATASETS:
        layers, channels, epochs, recipe = paper.layers, paper.channels, paper.epochs, "paper"
    else:
        layers, channels, epochs = _fit(per_epoch, base_n, base_f, budget)
        recipe = "fit"
    one = per_epoch(layers, channels)
    estimate = None if one is None else STARTUP_SECONDS + epochs * one
    final_dir, export_dir = run_dir / "final", run_dir / "exports"
    args = [f"nao-tf train {quote(str(run_dir / 'final_arch.json'))} --dataset {dataset}"]
    if config.data.data_dir and dataset != "embedded":
        args.append(f"--data-dir {quote(str(config.data.data_dir))}")
    if recipe == "fit":
        args.append(f"--layers {layers} --channels {channels} --epochs {epochs}")
        if steps is not None:
            args.append(f"--steps-per-epoch {steps}")
    args.append(f"--seed {config.seed} --out {quote(str(final_dir))}")
    if recipe == "paper":
        note = (f"the paper's recipe (N={layers}, F={channels}, {epochs} epochs, batch {paper.batch_size}, "
                "auxiliary head, cutout): needs a GPU (hours there)"
                + ("" if estimate is None else f"; about {format_duration(estimate)} on this machine"))
    elif estimate is None:
        note = f"N={layers}, F={channels}, {epochs} epochs (nothing was timed here to estimate the time)"
    else:
        note = f"N={layers}, F={channels}, {epochs} epochs: about {format_duration(estimate)} here"
    return {"train": {"command": " ".join(args), "recipe": recipe, "layers": layers, "channels": channels,
                      "epochs": epochs, "steps_per_epoch": steps,
                      "estimate_seconds": None if estimate is None else round(estimate, 1),
                      "budget_seconds": budget if recipe == "fit" else None, "note": note},
            "export": {"command": f"nao-tf export {quote(str(final_dir))} --out {quote(str(export_dir))}"},
            "timed_from": {"trainings": len(measured), "what": "re-ranking" if evaluator.name == "ws" else "children",
                           "seconds_per_epoch": None if not measured else round(
                               statistics.median(m["seconds"] / m["epochs"] for m in measured), 2),
                           "predicted_seconds_per_epoch": None if one is None else round(one, 2)}}


def _fit(per_epoch: Any, base_n: int, base_f: int, budget: float) -> tuple[int, int, int]:
    """(N, F, epochs): the largest network that trains >= MIN_EPOCHS within ``budget`` seconds (at most
    MAX_EPOCHS), else the measured size with as many epochs as fit (at least 1)."""
    if per_epoch(base_n, base_f) is None:
        return base_n, base_f, MIN_EPOCHS
    left = max(0.0, budget - STARTUP_SECONDS)
    layers = sorted({base_n, min(MAX_LAYERS, base_n + 1), min(MAX_LAYERS, 2 * base_n)})
    best: tuple[float, int, int, int] | None = None
    for n in layers:
        for w in WIDTHS:
            f = base_f * w
            cost = per_epoch(n, f)
            fits = int(left // cost) if cost > 0 else MAX_EPOCHS
            if fits < MIN_EPOCHS:
                continue
            size = cost  # per-epoch cost stands for network size (same data for every candidate)
            if best is None or size > best[0]:
                best = (size, n, f, min(fits, MAX_EPOCHS))
    if best is not None:
        return best[1], best[2], best[3]
    cost = per_epoch(base_n, base_f)
    return base_n, base_f, max(1, int(left // cost) if cost > 0 and math.isfinite(cost) else 1)
