"""The NAO controller: masks, training, gradient-step generation, determinism, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import tensorflow as tf  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nao_tf.controller.config import ControllerConfig  # noqa: E402
from nao_tf.controller.generation import Generator  # noqa: E402
from nao_tf.controller.training import (  # noqa: E402
    ControllerTrainer,
    build_controller,
    load_controller,
    normalize_targets,
    save_controller,
)
from nao_tf.errors import ConfigError, RunFolderError  # noqa: E402
from nao_tf.seeding import rng  # noqa: E402
from nao_tf.spaces import NASNET_FULL, NASNET_WS, NB201, RNN  # noqa: E402

TINY = dict(embedding_size=8, hidden_size=16, mlp_layers=1, mlp_hidden=16, mlp_dropout=0.0, batch_size=32,
            epochs=5, jit_compile=False, generate_jit=False)
SPACES = {s.name: s for s in (NB201, NASNET_WS, NASNET_FULL, RNN)}
_MODELS: dict[str, object] = {}


def tiny(space, **kw):
    return build_controller(space, ControllerConfig.preset("paper", **{**TINY, **kw}), seed=0)


def _model(name):
    if name not in _MODELS:
        _MODELS[name] = tiny(SPACES[name])
    return _MODELS[name]


@settings(max_examples=12, deadline=None)
@given(name=st.sampled_from(sorted(SPACES)), seed=st.integers(0, 2**31 - 1), scale=st.floats(0.1, 50.0))
def test_masked_greedy_decoding_only_emits_valid_architectures(name, seed, scale):
    """Whatever the weights and the (moved) embeddings, every decoded sequence is a valid architecture."""
    space = SPACES[name]
    controller = _model(name)
    controller.reinitialize(seed)  # arbitrary weights
    r = np.random.default_rng(seed)
    steps = controller.encoder.steps
    outputs = tf.math.l2_normalize(tf.constant(r.normal(size=(16, steps, 16)) * scale, tf.float32), axis=-1)
    emb = tf.math.l2_normalize(tf.reduce_mean(outputs, axis=1), axis=-1)
    tokens = np.asarray(controller.decoder.greedy(outputs, emb))
    mask = space.token_mask()
    assert mask[np.arange(space.length)[None, :], tokens].all()
    for row in tokens:
        space.decode(row)  # raises on any invalid token


def test_training_learns_targets_and_reconstruction():
    archs = NB201.sample(rng(0), 60)
    y = np.array([sum(a.values) for a in archs], dtype=float)  # a smooth target
    controller = tiny(NB201, hidden_size=32, embedding_size=16, mlp_hidden=32, learning_rate=0.01)
    trainer = ControllerTrainer(controller)
    before = trainer.predict(archs)
    fit = trainer.fit(archs, y, epochs=150, seed=1)
    after = trainer.predict(archs)
    corr = np.corrcoef(after, y)[0, 1]
    assert np.isfinite(fit["loss"]) and corr > 0.8 > abs(np.corrcoef(before, y)[0, 1])
    recon = trainer.reconstruct(archs)
    assert np.mean([a == b for a, b in zip(recon, archs, strict=True)]) > 0.9


@pytest.fixture(scope="module")
def trained():
    archs = NB201.sample(rng(3), 80)
    y = np.array([a.values.count(3) + 0.5 * a.values.count(2) for a in archs], dtype=float)
    controller = tiny(NB201, hidden_size=32, embedding_size=16, mlp_hidden=32)
    trainer = ControllerTrainer(controller)
    trainer.fit(archs, y, epochs=60, seed=0)
    return controller, trainer, archs, y


def test_gradient_step_raises_predicted_score(trained):
    controller, _, archs, _ = trained
    tokens = np.stack([NB201.encode(a) for a in archs[:40]]).astype(np.int32)
    outputs, _ = controller.encode(tokens)
    with tf.GradientTape() as tape:
        tape.watch(outputs)
        pred = controller.predict_from_outputs(outputs)
        total = tf.reduce_sum(pred)
    grads = tape.gradient(total, outputs)
    moved = tf.math.l2_normalize(outputs + 0.05 * grads, axis=-1)
    gain = np.asarray(controller.predict_from_outputs(moved) - pred)
    assert (gain > 0).mean() >= 0.9 and gain.mean() > 0
    # and the opposite direction lowers it
    down = np.asarray(controller.predict_from_outputs(tf.math.l2_normalize(outputs - 0.05 * grads, axis=-1)) - pred)
    assert down.mean() < 0


def test_generation_returns_only_new_distinct_valid_architectures(trained):
    controller, trainer, archs, y = trained
    gen = Generator(controller)
    order = np.argsort(-y)[:10]
    seeds = [archs[i] for i in order]
    known = set(archs)
    res = gen.generate(seeds, 30, is_new=lambda a: a not in known)
    assert 0 < len(res.archs) <= 30
    assert len(set(res.archs)) == len(res.archs)
    assert not set(res.archs) & known
    assert all(NB201.decode(NB201.encode(a)) == a for a in res.archs)
    assert res.etas == sorted(res.etas)  # smallest step sizes first
    assert res.calls >= 1 and res.decoded >= len(res.archs)
    # the batched call decodes exactly what one call per step size would
    both = gen.decode_moved(seeds, [2.0, 5.0])
    np.testing.assert_array_equal(both[0], gen.decode_moved(seeds, [2.0])[0])
    np.testing.assert_array_equal(both[1], gen.decode_moved(seeds, [5.0])[0])
    # predicted quality of the new archs is higher on average than the seeds' neighbourhood at eta=0
    assert trainer.predict(res.archs).mean() > trainer.predict(archs).mean()


def test_generation_of_a_symmetric_space_counts_swapped_variants_as_seen():
    controller = tiny(NASNET_WS, tokens_per_step=2)
    seeds = NASNET_WS.sample(rng(5), 8)
    known = {NASNET_WS.canonical(a) for a in seeds}
    res = Generator(controller).generate(seeds, 20, is_new=lambda a: NASNET_WS.canonical(a) not in known,
                                         step_sizes=[1, 5, 20, 50], etas_per_call=2)
    canon = [NASNET_WS.canonical(a) for a in res.archs]
    assert len(set(canon)) == len(canon) and not set(canon) & known


def test_same_seed_same_weights_and_generation():
    archs = NB201.sample(rng(1), 40)
    y = rng(2).uniform(size=40)
    c1, c2 = tiny(NB201, mlp_dropout=0.2), tiny(NB201, mlp_dropout=0.2)
    ControllerTrainer(c1).fit(archs, y, epochs=8, seed=4)
    t2 = ControllerTrainer(c2)
    t2.fit(archs, y, epochs=3, seed=99)  # whatever happened before ...
    t2.fit(archs, y, epochs=8, seed=4)  # ... a reset fit from the same seed gives the same weights
    for a, b in zip(c1.get_weights(), c2.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    g1 = Generator(c1).generate(archs[:5], 10, is_new=lambda a: a not in set(archs))
    g2 = Generator(c2).generate(archs[:5], 10, is_new=lambda a: a not in set(archs))
    assert g1.archs == g2.archs
    t2.fit(archs, y, epochs=8, seed=5)
    assert any(not np.array_equal(a, b) for a, b in zip(c1.get_weights(), c2.get_weights(), strict=True))


def test_save_load_roundtrip_and_wrong_space(tmp_path, trained):
    controller, trainer, archs, _ = trained
    path = save_controller(controller, tmp_path / "c.keras")
    loaded = load_controller(path, NB201, controller.settings)
    np.testing.assert_allclose(ControllerTrainer(loaded).predict(archs[:5]), trainer.predict(archs[:5]), rtol=1e-6)
    with pytest.raises(ConfigError, match="trained for space 'nb201', not 'nasnet-ws'"):
        load_controller(path, NASNET_WS)
    with pytest.raises(ConfigError, match="sizes"):
        load_controller(path, NB201, controller.settings.replace(hidden_size=8))
    with pytest.raises(RunFolderError, match="does not exist"):
        load_controller(tmp_path / "missing.keras", NB201)
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    with pytest.raises(RunFolderError, match="cannot load"):
        load_controller(tmp_path / "junk.keras", NB201)
    assert not list(tmp_path.glob(".*tmp*"))  # the atomic save left no temporary file


def test_normalize_targets_and_config_validation():
    np.testing.assert_allclose(normalize_targets([1, 3, 2]), [0, 1, 0.5])
    np.testing.assert_allclose(normalize_targets([5, 5]), [0.5, 0.5])
    np.testing.assert_allclose(normalize_targets([10, 30, 20, 20], "rank"), [0, 1, 0.5, 0.5])
    with pytest.raises(ConfigError, match="unknown controller setting"):
        ControllerConfig.from_dict({"hiden_size": 3})
    with pytest.raises(ConfigError, match="trade_off"):
        ControllerConfig(trade_off=2.0)
    with pytest.raises(ConfigError, match="tokens_per_step"):
        build_controller(NB201, ControllerConfig(tokens_per_step=4))
    assert ControllerConfig.for_space("nasnet-ws").tokens_per_step == 2
    ws = ControllerConfig.preset("ws")
    assert ws.generation_jit and not ws.jit_compile and not ControllerConfig().generation_jit
    assert ControllerConfig(eta_start=1, eta_step=1, eta_max=3).step_sizes() == [1, 2, 3]


def test_parameter_count_matches_the_authors_controller_at_ws_sizes():
    """The authors' PyTorch controller at the NAO-WS sizes has 279,533 parameters: its attention projects the
    decoder state (hidden x hidden, no bias) before scoring, and its LSTMs carry two bias vectors each."""
    controller = build_controller(NASNET_WS, ControllerConfig.preset("ws"))
    assert controller.count_params() == 279_533
    assert tuple(controller.decoder.attn_in_kernel.shape) == (96, 96)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_fused_lstm_matches_the_unrolled_one_in_values_and_gradients(dropout):
    """BlockLSTM (the fused kernel) computes the same function and the same gradients as the unrolled cell,
    including the gradients of the initial state (the decoder starts from the architecture embedding). Without
    dropout on the embeddings it runs on one-hot inputs and token tables (fewer multiplies, same gates, same
    gradients for the embeddings and kernels); with it, on the dropped-out embeddings, the same masks as the
    unrolled cell's. The fused execution also projects the encoder outputs for attention (same function)."""
    controller = tiny(NASNET_WS, tokens_per_step=2, encoder_dropout=dropout, decoder_dropout=dropout)
    controller.reinitialize(3)
    tokens = np.stack([NASNET_WS.encode(a) for a in NASNET_WS.sample(rng(4), 6)]).astype(np.int32)
    variables = controller.trainable_variables
    results = []
    for fused in (False, True):
        with tf.GradientTape() as tape:
            out = controller(tokens, training=True, seed=tf.constant([5, 6]), fused=fused)
            loss = tf.reduce_sum(out["prediction"]) + tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tokens, logits=out["logits"]))
        grads = tape.gradient(loss, variables)
        results.append((out["logits"], [tf.convert_to_tensor(g) for g in grads]))
    np.testing.assert_allclose(results[0][0], results[1][0], atol=1e-4)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-3)


def test_whole_training_in_one_call_gives_the_weights_of_one_call_per_step():
    archs = NB201.sample(rng(6), 50)
    y = rng(7).uniform(size=50)
    weights = []
    for per_call in (0, 1, 3):
        controller = tiny(NB201, mlp_dropout=0.2, batch_size=16, steps_per_call=per_call)
        fit = ControllerTrainer(controller).fit(archs, y, epochs=3, seed=2)
        assert fit["steps"] == 12 and np.isfinite(fit["loss"])
        weights.append(controller.get_weights())
    for other in weights[1:]:
        for a, b in zip(weights[0], other, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)


def test_towers_train_the_same_function_with_their_own_dropout():
    """A batch split into towers (run in parallel) gives the weights of the whole batch, up to rounding, and
    each tower draws its own dropout masks (two identical halves of a batch are dropped differently)."""
    archs = NASNET_WS.sample(rng(8), 48)
    y = rng(9).uniform(size=48)
    weights = []
    for towers in (1, 2, 3):
        controller = tiny(NASNET_WS, batch_size=24, towers=towers)
        ControllerTrainer(controller).fit(archs, y, epochs=3, seed=4)
        weights.append(controller.get_weights())
    for other in weights[1:]:
        for a, b in zip(weights[0], other, strict=True):
            np.testing.assert_allclose(a, b, atol=2e-5)
    trainer = ControllerTrainer(tiny(NASNET_WS, batch_size=24, towers=2, mlp_dropout=0.5))
    half = np.stack([NASNET_WS.encode(a) for a in archs[:12]]).astype(np.int32)
    out = trainer._forward(tf.constant(np.concatenate([half, half])), tf.constant([1, 2]))
    prediction = np.asarray(out["prediction"])
    assert prediction.shape == (24,) and not np.allclose(prediction[:12], prediction[12:])
    np.testing.assert_allclose(out["logits"][:12], out["logits"][12:], atol=1e-6)  # no decoder dropout here


def test_gradient_on_step_outputs_keeps_its_radial_part(trained):
    """Generation follows the gradient of the prediction with respect to the encoder's (unit-length) step
    outputs, as the authors' code does: without re-normalizing them first, so the gradient is not orthogonal
    to them (a re-normalization would project its radial part out)."""
    controller, _, archs, _ = trained
    tokens = np.stack([NB201.encode(a) for a in archs[:20]]).astype(np.int32)
    outputs, _ = controller.encode(tokens)
    with tf.GradientTape() as tape:
        tape.watch(outputs)
        total = tf.reduce_sum(controller.predict_from_outputs(outputs))
    grads = tape.gradient(total, outputs)
    radial = np.abs(np.sum(np.asarray(grads) * np.asarray(outputs), axis=-1))
    assert radial.mean() > 1e-3 * np.linalg.norm(np.asarray(grads), axis=-1).mean()


def test_default_novelty_check_compares_canonical_forms():
    """With no ``is_new``, a decoded swapped variant of a seed is the seed, not a new architecture."""
    controller = tiny(NASNET_WS, tokens_per_step=2)
    seeds = NASNET_WS.sample(rng(8), 4)
    variants = [NASNET_WS.augment(a, rng(9)) for a in seeds]
    assert any(v != s for v, s in zip(variants, seeds, strict=True))
    fresh = NASNET_WS.sample(rng(10), 1)[0]
    gen = Generator(controller)
    rows = np.stack([NASNET_WS.encode(a) for a in [*variants, fresh]]).astype(np.int32)
    decoded = np.concatenate([rows[:3], rows[4:]])  # swapped variants of 3 seeds, then one new architecture
    gen._fn = lambda tokens, etas, *noise: np.stack([decoded] * len(etas))
    res = gen.generate(seeds, 4, step_sizes=[1.0], etas_per_call=1)
    assert [NASNET_WS.canonical(a) for a in res.archs] == [NASNET_WS.canonical(fresh)]


def test_perturbed_generation_and_sample_weights(trained):
    """Noise on the moved embeddings finds architectures the plain gradient step does not (seeded: the same
    noise seed decodes the same); a zero sample weight removes an architecture from the loss."""
    controller, trainer, archs, y = trained
    gen = Generator(controller)
    seeds = [archs[i] for i in np.argsort(-y)[:10]]
    plain = gen.decode_moved(seeds, [1.0])
    noisy = gen.decode_moved(seeds, [1.0], noise=2.0, noise_seed=3)
    assert (plain != noisy).any()
    np.testing.assert_array_equal(noisy, gen.decode_moved(seeds, [1.0], noise=2.0, noise_seed=3))
    res = gen.generate(seeds, 5, step_sizes=[1.0], noise=2.0, noise_seed=3)
    assert res.noise == 2.0 and 0 < len(res.archs) <= 5
    few, t = archs[:20], rng(11).uniform(size=20)
    half = [1.0] * 10 + [0.0] * 10
    c1, c2, c3 = tiny(NB201), tiny(NB201), tiny(NB201)
    ControllerTrainer(c1).fit(few, t, epochs=3, seed=1, normalized=True, sample_weights=half)
    ControllerTrainer(c2).fit(few, np.concatenate([t[:10], 1 - t[10:]]), epochs=3, seed=1, normalized=True,
                              sample_weights=half)  # other targets where the weight is 0: same training
    ControllerTrainer(c3).fit(few, t, epochs=3, seed=1, normalized=True)
    for a, b in zip(c1.get_weights(), c2.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert any(not np.allclose(a, b) for a, b in zip(c1.get_weights(), c3.get_weights(), strict=True))
    with pytest.raises(ConfigError, match="sample_weights"):
        ControllerTrainer(c2).fit(few, y[:20], epochs=1, sample_weights=[1.0])
