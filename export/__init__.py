"""Exports of trained nao-tf models (installed as ``nao_tf.export``)."""
