"""The ``nao-tf`` command line (installed as ``nao_tf.cli``): thin commands that parse, call the library, print."""
