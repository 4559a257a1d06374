"""Keras networks built from architectures: CNN cells and networks (``ops``, ``cnn``), their training
(``train_cnn``) and parameter counts without TensorFlow (``params``)."""
