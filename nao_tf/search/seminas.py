"""Semi-supervised NAO (SemiNAS; Luo, Tan, Wang, Qin, Chen, Liu, 2020) as a search method.

Each round trains the controller on the evaluated architectures as NAO does, then lets it label
``pseudo_labels`` random architectures that were never evaluated with its predictor, and retrains (from the
same initialization) on evaluated + pseudo-labelled architectures, the pseudo-labelled ones weighted
``pseudo_weight`` in the loss. More (if noisier) data shapes the encoder's embedding space where the few
measured architectures leave it empty, which is what the gradient step moves through. Generation then
proceeds as in NAO (gradient steps only, searching harder when too few are new), optionally screened by the
predictor (``candidates_factor``: generate that many times more, evaluate the best predicted).
"""

from __future__ import annotations

from typing import Any

from nao_tf.search.config import NaoConfig, SemiNasConfig
from nao_tf.search.nao import ControllerCache, NaoMethod
from nao_tf.spaces import Architecture


class SemiNasMethod(NaoMethod):
    """NAO (``settings``) with pseudo-labelled training data (``semi``: ``nao_tf.search.config.SemiNasConfig``)."""

    name = "seminas"

    def __init__(self, settings: NaoConfig | None = None, semi: SemiNasConfig | None = None,
                 controller: dict[str, Any] | None = None, checkpoint: str | None = None,
                 cache: ControllerCache | None = None) -> None:
        super().__init__(settings, controller, checkpoint, cache)
        self.semi = semi or SemiNasConfig()

    def _fit(self, trainer: Any, archs: list[Architecture], targets: list[float], step: int) -> dict[str, Any]:
        from nao_tf.controller.training import normalize_targets

        st, s = self.semi, self.s
        fit = super()._fit(trainer, archs, targets, step)
        if st.pseudo_labels <= 0:
            return fit
        taken = {s.key(a) for a in archs}
        unlabelled = self.random_new(s.rng(step, 5), st.pseudo_labels, taken, source="pseudo")
        for arch in unlabelled:  # labelled, not proposed: they get a source only if generation proposes them
            self.sources.pop(arch, None)
        if not unlabelled:
            return fit
        pseudo = trainer.predict(unlabelled)  # the predictor's scale: normalized targets in [0, 1]
        measured = normalize_targets(targets, self.controller_config.target_transform)
        weights = [1.0] * len(archs) + [st.pseudo_weight] * len(unlabelled)
        fit = self._phase("controller training (pseudo-labels)", trainer.fit, archs + unlabelled,
                          [*measured.tolist(), *pseudo.tolist()], seed=[s.seed, step, 8], normalized=True,
                          initial_weights=self._initial_weights, sample_weights=weights)
        fit["pseudo_labelled"] = len(unlabelled)
        return fit

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "name": self.name, **self.semi.model_dump()}
