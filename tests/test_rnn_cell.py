"""The NAO RNN cell against a NumPy computation of docs/method.md section 2.2; the LM; the weight-sharing cell."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import nao_tf  # noqa: E402
from nao_tf.children.lm import build_lm, build_shared_lm, inference_function  # noqa: E402
from nao_tf.children.rnn_cell import NaoRnnCell, SharedNaoRnnCell  # noqa: E402
from nao_tf.seeding import rng  # noqa: E402
from nao_tf.spaces.rnn import RNN  # noqa: E402

H, D = 6, 5


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


NP_ACTS = {0: np.tanh, 1: lambda z: np.maximum(z, 0), 2: lambda z: z, 3: sigmoid}


def numpy_cell(x, h, w0, ws, pairs, ws_index=None):
    """Spec 2.2 written out: c0 = sig(W_c[x;h]), s0 = h + c0 (tanh(W_h[x;h]) - h); node i from s_pred."""
    xh = np.concatenate([x, h], axis=-1)
    c0 = sigmoid(xh @ w0[:, :H])
    s = [h + c0 * (np.tanh(xh @ w0[:, H:]) - h)]
    for i, (p, a) in enumerate(pairs):
        w = ws[i] if ws_index is None else ws[ws_index(i, p)]
        sp = s[p]
        c = sigmoid(sp @ w[:, :H])
        s.append(sp + c * (NP_ACTS[a](sp @ w[:, H:]) - sp))
    return np.mean(s[1:], axis=0)


def run_sequence(cell_fn, xs, h):
    outs = []
    for t in range(xs.shape[1]):
        h = cell_fn(xs[:, t], h)
        outs.append(h)
    return np.stack(outs, axis=1), h


def random_weights(cell):
    g = np.random.default_rng(3)
    for w in cell.trainable_weights:
        w.assign(g.uniform(-0.6, 0.6, size=tuple(w.shape)).astype("float32"))


@pytest.mark.parametrize("arch", ["PTB-NAONet", "PTB-NAONet-WS"])
def test_cell_matches_numpy_equations(arch):
    a = nao_tf.resolve(arch)
    cell = NaoRnnCell(H, a)
    layer = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    g = np.random.default_rng(0)
    xs = g.normal(size=(3, 4, D)).astype("float32")
    h0 = g.normal(size=(3, H)).astype("float32")
    layer.build((None, None, D))
    random_weights(cell)
    out, state = layer(xs, initial_state=[h0])
    w0, ws = cell.w0.numpy(), cell.ws.numpy()
    ref_out, ref_h = run_sequence(lambda x, h: numpy_cell(x, h, w0, ws, RNN.pairs(a)), xs, h0)
    np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(state.numpy(), ref_h, rtol=1e-5, atol=1e-5)
    # it is not trivially the identity: output differs from the previous state
    assert np.abs(ref_out[:, 0] - h0).max() > 1e-2


def test_shared_cell_matches_numpy_for_random_archs():
    cell = SharedNaoRnnCell(H)
    layer = keras.layers.RNN(cell, return_sequences=True)
    layer.build((None, None, D))
    random_weights(cell)
    g = np.random.default_rng(1)
    xs = g.normal(size=(2, 3, D)).astype("float32")
    h0 = g.normal(size=(2, H)).astype("float32")
    step = tf.function(lambda x, h: layer(x, initial_state=[h]))
    w0, ws = cell.w0.numpy(), cell.ws.numpy()
    outs = []
    for arch in RNN.sample(rng(5), 3):
        cell.set_arch(arch)
        out = step(xs, h0).numpy()
        ref, _ = run_sequence(
            lambda x, h, a=arch: numpy_cell(x, h, w0, ws, RNN.pairs(a), lambda i, p: i * (i + 1) // 2 + p), xs, h0)
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
        outs.append(out)
    assert np.abs(outs[0] - outs[1]).max() > 1e-3  # the architecture tensor changes the computation
    assert step.experimental_get_tracing_count() == 1  # one compiled step served every architecture


@pytest.mark.parametrize("act", [0, 1, 2, 3])
def test_every_activation_forward_backward(act):
    values = []
    for i in range(11):
        values += [i, act]
    model = build_lm(RNN.make(values), vocab_size=20, hidden=8, seed=0)
    tokens = np.random.default_rng(act).integers(0, 20, size=(2, 5)).astype("int32")
    with tf.GradientTape() as tape:
        logits, state, raw, dropped = model.forward(tokens, model.initial_state(2), training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(tokens, logits))
    grads = tape.gradient(loss, model.trainable_variables)
    assert logits.shape == (2, 5, 20) and state.shape == (2, 8)
    assert all(g is not None and np.isfinite(tf.convert_to_tensor(g).numpy()).all() for g in grads)
    assert float(tf.norm(tf.convert_to_tensor(grads[-1]))) > 0  # the cell's node weights get gradient


def test_random_archs_forward_backward():
    for arch in RNN.sample(rng(11), 3):
        model = build_lm(arch, vocab_size=15, hidden=8, seed=1)
        tokens = np.arange(12, dtype="int32").reshape(2, 6) % 15
        with tf.GradientTape() as tape:
            logits, _ = model(tokens, model.initial_state(2), training=True)
            loss = tf.reduce_mean(logits ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        assert all(g is not None for g in grads)


def test_keras_round_trip_and_inference_function(tmp_path):
    model = build_lm(nao_tf.resolve("PTB-NAONet"), vocab_size=30, hidden=12, seed=2, tie_weights=True)
    tokens = np.random.default_rng(0).integers(0, 30, size=(3, 7)).astype("int32")
    state = np.random.default_rng(1).normal(size=(3, 12)).astype("float32")
    logits, new_state = model.step(tokens, state)
    path = tmp_path / "lm.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_config()["arch"] == list(nao_tf.resolve("PTB-NAONet").values)
    logits2, state2 = loaded.step(tokens, state)
    np.testing.assert_array_equal(logits.numpy(), logits2.numpy())
    np.testing.assert_array_equal(new_state.numpy(), state2.numpy())
    fn = inference_function(loaded)
    out = fn(tf.constant(tokens), tf.constant(state))
    np.testing.assert_allclose(out["logits"].numpy(), logits.numpy(), rtol=1e-6, atol=1e-6)
    # stateful: two windows with the carried state equal one long window
    a, s = loaded.step(tokens[:, :3], state)
    b, _ = loaded.step(tokens[:, 3:], s)
    np.testing.assert_allclose(np.concatenate([a, b], axis=1), logits.numpy(), rtol=1e-5, atol=1e-5)


def test_untied_and_shared_lm():
    model = build_lm(nao_tf.resolve("PTB-NAONet"), vocab_size=10, hidden=4, tie_weights=False)
    assert any("decoder" in w.path for w in model.trainable_weights)
    shared = build_shared_lm(vocab_size=10, hidden=4, seed=0)
    shared.cell.set_arch(nao_tf.resolve("PTB-NAONet"))
    logits, _ = shared(np.zeros((2, 3), "int32"))
    assert logits.shape == (2, 3, 10)


def test_inference_function_converts_to_onnx():
    tf2onnx = pytest.importorskip("tf2onnx")
    ort = pytest.importorskip("onnxruntime")
    model = build_lm(nao_tf.resolve("PTB-NAONet"), vocab_size=30, hidden=8, seed=0)
    fn = inference_function(model)
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=17)
    sess = ort.InferenceSession(proto.SerializeToString())
    tokens = np.random.default_rng(0).integers(0, 30, (2, 6)).astype(np.int32)
    state = np.random.default_rng(1).normal(size=(2, 8)).astype(np.float32)
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"tokens": tokens, "state": state}),
                   strict=True))
    ref = fn(tokens, state)
    np.testing.assert_allclose(got["logits"], ref["logits"].numpy(), atol=1e-5)
    np.testing.assert_allclose(got["new_state"], ref["new_state"].numpy(), atol=1e-5)
