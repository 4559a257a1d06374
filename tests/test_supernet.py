"""The NAO-WS CNN supernet: one compiled step serves every architecture; only the chosen ops learn; the two
op-selection modes compute the same network."""

from __future__ import annotations

import numpy as np
import pytest

from nao_tf.spaces.nasnet import NASNET_WS

tf = pytest.importorskip("tensorflow")

from nao_tf.children.supernet import Supernet, SupernetTrainer  # noqa: E402

SHAPE = (8, 8, 3)


def _data(n=8, seed=0):
    gen = np.random.default_rng(seed)
    return gen.normal(size=(n, *SHAPE)).astype(np.float32), gen.integers(0, 10, n).astype(np.int32)


@pytest.fixture(scope="module")
def trainer():
    tf.keras.utils.set_random_seed(0)
    model = Supernet(layers=1, channels=4, num_classes=10, select="switch")
    return SupernetTrainer(model, total_steps=10, weight_decay=0.0, momentum=0.0, image_shape=SHAPE)


def test_one_trace_serves_every_architecture(trainer):
    x, y = _data()
    archs = NASNET_WS.sample(np.random.default_rng(1), 4)
    for i, arch in enumerate(archs):
        loss, acc = trainer.train_step(x, y, tf.constant(arch.values, tf.int32), tf.constant(0.1 * i),
                                       tf.constant([0, i], tf.int32))
        assert np.isfinite(float(loss)) and 0.0 <= float(acc) <= 1.0
    scores = trainer.score_pool([a.values for a in archs], x, y)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert trainer.train_step.experimental_get_tracing_count() == 1
    assert trainer.score.experimental_get_tracing_count() == 1


def test_no_conditional_sends_back_zeros_for_the_whole_state_array(trainer):
    # A cell-output conditional that captured the TensorArray of states made its not-taken gradient a zero
    # tensor for all seven states (TensorFlow's profiler: about 8% of a training step); each now captures its
    # own state only. A variant ZerosLike in the traced step is that pattern (there were 35 at N=1).
    lib = trainer.train_step.get_concrete_function().graph.as_graph_def().library
    variant = tf.variant.as_datatype_enum
    zeros_of_arrays = [f"{f.signature.name}/{n.name}" for f in lib.function for n in f.node_def
                       if n.op == "ZerosLike" and n.attr["T"].type == variant]
    assert zeros_of_arrays == [], zeros_of_arrays[:3]


def test_only_the_chosen_ops_and_inputs_learn(trainer):
    """Every (node, branch, input) has its own separable-conv weights: a step with one architecture leaves
    the slots it does not use unchanged (no weight decay, no momentum here)."""
    x, y = _data(seed=3)
    # normal cell: node 0 = (h0 sep3, h1 sep5), every other node (n0 max3, n0 avg3); reduce cell: all pools
    normal = [0, 0, 1, 1] + [2, 3, 2, 2] * 4
    reduce = [0, 2, 1, 3] + [2, 3, 2, 2] * 4
    arch = NASNET_WS.make(normal + reduce)
    cell = trainer.model.cells[0]  # a normal cell
    before_dw3, before_dw5 = cell.dw3.numpy().copy(), cell.dw5.numpy().copy()
    trainer.train_step(x, y, tf.constant(arch.values, tf.int32), tf.constant(0.0), tf.constant([0, 9], tf.int32))
    dw3, dw5 = cell.dw3.numpy(), cell.dw5.numpy()
    slot_x = (0 * 2 + 0) * 7 + 0  # node 0, branch x, input h0 -> sep3
    slot_y = (0 * 2 + 1) * 7 + 1  # node 0, branch y, input h1 -> sep5
    assert not np.allclose(dw3[slot_x], before_dw3[slot_x])
    assert not np.allclose(dw5[slot_y], before_dw5[slot_y])
    untouched3 = [s for s in range(dw3.shape[0]) if s != slot_x]
    untouched5 = [s for s in range(dw5.shape[0]) if s != slot_y]
    np.testing.assert_array_equal(dw3[untouched3], before_dw3[untouched3])
    np.testing.assert_array_equal(dw5[untouched5], before_dw5[untouched5])


def test_switch_and_onehot_compute_the_same_network():
    tf.keras.utils.set_random_seed(4)
    a = Supernet(layers=1, channels=4, num_classes=10, select="switch")
    b = Supernet(layers=1, channels=4, num_classes=10, select="onehot")
    x, _ = _data(seed=5)
    zero = np.zeros(40, np.int32)
    a((x, zero))
    b((x, zero))
    b.set_weights(a.get_weights())
    fa = tf.function(lambda arch: a((x, arch)))
    fb = tf.function(lambda arch: b((x, arch)))
    for arch in NASNET_WS.sample(np.random.default_rng(6), 3):
        t = tf.constant(arch.values, tf.int32)
        np.testing.assert_allclose(fa(t).numpy(), fb(t).numpy(), rtol=1e-4, atol=1e-4)
    # different architectures give different outputs with the same weights
    x1, x2 = NASNET_WS.sample(np.random.default_rng(7), 2)
    assert not np.allclose(fa(tf.constant(x1.values)).numpy(), fa(tf.constant(x2.values)).numpy())


def test_state_round_trip(trainer):
    state = trainer.get_state()
    x, y = _data(seed=8)
    arch = NASNET_WS.sample(np.random.default_rng(9), 1)[0]
    before = trainer.score_pool([arch.values], x, y)
    trainer.train_step(x, y, tf.constant(arch.values, tf.int32), tf.constant(0.5), tf.constant([1, 1], tf.int32))
    trainer.set_state(state)
    assert trainer.score_pool([arch.values], x, y) == before
    assert all(np.array_equal(a, b) for a, b in zip(trainer.get_state(), state, strict=True))


def test_decay_and_momentum_touch_only_what_the_step_used():
    """With weight decay and Nesterov momentum, a step leaves every weight its architecture did not use
    exactly as it was (the authors' optimizer skips parameters without a gradient): an architecture trained
    earlier keeps its weights and its momentum does not carry them on while others train."""
    tf.keras.utils.set_random_seed(2)
    model = Supernet(layers=1, channels=4, num_classes=10)
    trainer = SupernetTrainer(model, total_steps=10, weight_decay=0.1, momentum=0.9, image_shape=SHAPE)
    x, y = _data(seed=4)
    pools = [2, 3, 2, 2] * 4
    first = NASNET_WS.make([0, 0, 1, 0] + pools + [0, 2, 1, 3] + pools)  # node 0: h0 sep3, h1 sep3
    second = NASNET_WS.make([0, 1, 1, 1] + pools + [0, 2, 1, 3] + pools)  # node 0: h0 sep5, h1 sep5
    step = [tf.constant(0.0), tf.constant([0, 1], tf.int32)]
    trainer.train_step(x, y, tf.constant(first.values, tf.int32), *step)
    cell = model.cells[0]
    dw3, pw = cell.dw3.numpy().copy(), cell.pw.numpy().copy()
    trainer.train_step(x, y, tf.constant(second.values, tf.int32), *step)
    # the sep3 weights of node 0 (slots 0 and 8) and their pointwise rows (slot * 2 + 0) did not move
    np.testing.assert_array_equal(cell.dw3.numpy(), dw3)
    np.testing.assert_array_equal(cell.pw.numpy()[[0, 16]], pw[[0, 16]])
    # the sep5 pointwise rows of the same slots did
    assert not np.allclose(cell.pw.numpy()[[1, 17]], pw[[1, 17]])
    # rows no architecture used keep their initial values through decay and momentum
    unused = [r for r in range(pw.shape[0]) if r not in (0, 1, 16, 17)]
    np.testing.assert_array_equal(cell.pw.numpy()[unused], pw[unused])
