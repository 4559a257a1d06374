"""CNN ops and network builder: every op at stride 1 and 2, random architectures, parameter counts, .keras."""

from __future__ import annotations

import numpy as np
import pytest

import nao_tf  # noqa: F401
from nao_tf.architectures import resolve
from nao_tf.errors import ArchitectureError, ConfigError
from nao_tf.seeding import rng
from nao_tf.spaces.nasnet import FULL_OPS, NASNET_FULL, NASNET_WS, WS_OPS

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from nao_tf.children import ops as O  # noqa: E402
from nao_tf.children.cnn import build_cnn, inference_model, keras_param_count  # noqa: E402
from nao_tf.children.params import count_params, plan  # noqa: E402

ALL_OPS = sorted(set(WS_OPS) | set(FULL_OPS))


def _n_trainable(layer) -> int:
    return sum(int(np.prod(w.shape)) for w in layer.trainable_weights)


@pytest.mark.parametrize("stride", [1, 2])
def test_every_op_builds_and_trains_one_step(stride):
    x = np.random.default_rng(0).normal(size=(2, 7, 7, 4)).astype("float32")
    for op in ALL_OPS:
        layer = O.make_op(op, 4, stride, name=f"t_{op}")
        with tf.GradientTape() as tape:
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.square(y))
        assert tuple(y.shape) == (2, 4 if stride == 2 else 7, 4 if stride == 2 else 7, 4), op
        assert _n_trainable(layer) == O.op_params(op, 4, stride), op
        if layer.trainable_weights:
            grads = tape.gradient(loss, layer.trainable_weights)
            before = [w.numpy().copy() for w in layer.trainable_weights]
            keras.optimizers.SGD(0.1).apply_gradients(zip(grads, layer.trainable_weights, strict=True))
            assert any(not np.allclose(b, w.numpy()) for b, w in zip(before, layer.trainable_weights, strict=True))
            assert all(np.isfinite(g.numpy()).all() for g in grads), op


def test_two_by_two_pools_pad_bottom_right_like_pytorch():
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    out = O.Pool("max", 2, 1)(x).numpy()[0, :, :, 0]
    # window at (i, j) covers rows i..i+1, cols j..j+1 of the zero-padded input (pad bottom/right)
    assert out[0, 0] == 5 and out[3, 3] == 15 and out[3, 0] == 13
    avg = O.Pool("avg", 2, 2)(x).numpy()[0, :, :, 0]
    assert avg.shape == (2, 2) and avg[0, 0] == pytest.approx((0 + 1 + 4 + 5) / 4)


def test_factorized_reduce_second_path_is_shifted_by_one_pixel():
    layer = O.FactorizedReduce(2)
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    layer(x)
    layer.conv1.kernel.assign(np.ones((1, 1, 1, 1), "float32"))
    layer.conv2.kernel.assign(np.ones((1, 1, 1, 1), "float32"))
    raw = tf.concat([layer.conv1(x), layer.conv2(tf.pad(x[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]]))], -1)
    assert raw.numpy()[0, :, :, 0].tolist() == [[0, 2], [8, 10]]
    assert raw.numpy()[0, :, :, 1].tolist() == [[5, 7], [13, 15]]


def test_drop_path_keep_probability_schedule_and_masks():
    layer = O.DropPath(0.6, cell_index=4, num_cells=5, total_steps=10)
    x = np.ones((400, 2, 2, 1), "float32")
    layer(x)
    layer.step.assign(4.0)  # step ratio 0.5, layer ratio 1.0 -> keep 0.8
    assert float(layer.current_keep_prob()) == pytest.approx(0.8)
    y = layer(x, training=True).numpy()
    kept = y[:, 0, 0, 0] > 0
    assert 0.65 < kept.mean() < 0.95
    assert np.allclose(y[kept], 1 / 0.8)  # whole examples kept and rescaled
    assert (y[~kept] == 0).all()
    assert np.array_equal(layer(x, training=False).numpy(), x)


def _random_arch(space, seed):
    values = []
    gen = rng(seed)
    for _cell in range(2):
        for node in range(5):
            for _branch in range(2):
                values += [int(gen.integers(node + 2)), int(space.first_op + gen.integers(len(space.ops)))]
    return space.make(values)


@pytest.mark.parametrize("space", [NASNET_WS, NASNET_FULL], ids=["ws", "full"])
def test_random_architectures_forward_backward_and_param_counts(space):
    for seed in range(2):
        arch = _random_arch(space, seed)
        model = build_cnn(arch, layers=1, channels=4, num_classes=3, input_shape=(8, 8, 3), aux_head=True,
                          drop_path_keep=0.7, dropout_keep=0.8, total_steps=5)
        assert keras_param_count(model) == count_params(arch, 1, 4, num_classes=3)
        x = np.random.default_rng(seed).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
        with tf.GradientTape() as tape:
            logits, aux = model(x, training=True)
            loss = tf.reduce_sum(logits) + tf.reduce_sum(aux)
        assert tuple(logits.shape) == (2, 3) and tuple(aux.shape) == (2, 3)
        grads = tape.gradient(loss, model.trainable_weights)
        assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)


def test_published_parameter_counts_at_n6_f36():
    # the authors' macro (docs/method.md section 6)
    assert count_params("NAONet-A", 6, 36) == 11_470_150
    assert count_params("NAONet-B", 6, 36) == 2_921_302
    model = build_cnn("NAONet-B", layers=2, channels=6, input_shape=(16, 16, 3))
    assert keras_param_count(model) == count_params("NAONet-B", 2, 6)


def test_plan_reductions_and_channels():
    cells = plan("NAONet-B", 2, 8)
    assert len(cells) == 8
    assert [c.index for c in cells if c.reduction] == [2, 5]
    assert [c.channels for c in cells] == [8, 8, 16, 16, 16, 32, 32, 32]
    assert cells[3].h0_larger and not cells[2].h0_larger


def test_keras_round_trip_identical_outputs(tmp_path):
    model = build_cnn("NAONet-A", layers=1, channels=4, num_classes=5, input_shape=(8, 8, 1), aux_head=True,
                      drop_path_keep=0.8, dropout_keep=0.7, mean=[120.0], std=[60.0], total_steps=10)
    x = np.random.default_rng(1).uniform(0, 255, (3, 8, 8, 1)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    inference_model(model).save(tmp_path / "inf.keras")
    code = (
        "import sys, numpy as np, nao_tf\n"
        "x = np.load(sys.argv[3])\n"
        "m = nao_tf.load_model(sys.argv[1])\n"
        "i = nao_tf.load_model(sys.argv[2])\n"
        "np.save(sys.argv[4], np.stack([m(x, training=False)[0].numpy(), i(x, training=False).numpy()]))\n"
    )
    np.save(tmp_path / "x.npy", x)
    import subprocess
    import sys

    # a fresh interpreter with nothing but nao_tf imported (outside the repository: the installed package)
    subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "inf.keras"), str(tmp_path / "x.npy"),
                    str(tmp_path / "out.npy")], check=True, capture_output=True, cwd=tmp_path)
    out = np.load(tmp_path / "out.npy")
    expected = model(x, training=False)[0].numpy()
    np.testing.assert_array_equal(out[0], expected)
    np.testing.assert_array_equal(out[1], expected)


def test_builder_rejects_bad_input():
    with pytest.raises(ArchitectureError):
        build_cnn("PTB-NAONet", layers=1, channels=4)
    with pytest.raises(ConfigError):
        build_cnn("NAONet-B", layers=0, channels=4)
    with pytest.raises(ConfigError):
        build_cnn("NAONet-B", layers=1, channels=4, drop_path_keep=0.0)
    with pytest.raises(ConfigError):
        build_cnn("NAONet-B", layers=1, channels=4, input_shape=(2, 2, 3))
    with pytest.raises(ArchitectureError):
        O.make_op("sep7", 4)
    assert resolve("NAONet-B").space == "nasnet-ws"


def test_mixed_precision_forward_backward_with_drop_path():
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_cnn("NAONet-B", layers=1, channels=4, input_shape=(8, 8, 1), aux_head=True,
                          drop_path_keep=0.7, total_steps=100)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    x = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 1)).astype("float32")
    with tf.GradientTape() as tape:
        logits, aux = model(x, training=True)
        loss = tf.reduce_sum(logits) + tf.reduce_sum(aux)
    assert logits.dtype == tf.float32 and aux.dtype == tf.float32
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None and np.isfinite(tf.cast(g, tf.float32).numpy()).all() for g in grads)


def test_arch_show_params(capsys):
    import json

    from nao_tf.cli.main import main

    assert main(["arch", "show", "NAONet-B", "--params", "--layers", "6", "--channels", "36", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params"]["trainable"] == 2_921_302
    assert main(["arch", "show", "NAONet-A", "--params"]) == 0
    assert "11470150" in capsys.readouterr().out
    assert main(["arch", "show", "PTB-NAONet", "--params"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_cell_layers_own_their_registered_names():
    # another module registering a class under the same "nao_tf>Name" would silently break .keras loading
    for cls in (O.ReLUConvBN, O.ConvPair, O.SepConv, O.Pool, O.FactorizedReduce, O.DropPath, O.Normalize,
                O.AuxHead):
        assert keras.saving.get_registered_object(keras.saving.get_registered_name(cls)) is cls, cls
