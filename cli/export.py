"""``nao-tf export MODEL_OR_RUN --format savedmodel,onnx[,tflite] --out DIR``: verified SavedModel / ONNX exports.

Writes ``DIR/NAME/VERSION/`` (TF Serving's layout; NAME defaults to the run folder's or model file's name,
VERSION to 1), checks every format against the Keras model on a fixed batch (max abs difference, reported and
saved to ``verification.json``) and publishes only a verified export. Exit codes: 0 ok, 2 bad input (not a
nao-tf model, unknown format, export folder in the way), 1 verification failed (nothing is left behind).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from nao_tf.cli.argtypes import finite_float, nonnegative_int, output_path, positive_int

FORMATS_HELP = "comma-separated formats: savedmodel, onnx, tflite (default: savedmodel,onnx)"


def register(sub: Any) -> None:
    parser = sub.add_parser("export", help="export a trained model as a verified SavedModel / ONNX (TF Serving layout)")
    parser.add_argument("model", metavar="MODEL_OR_RUN", help="run folder of 'nao-tf train' or a nao-tf .keras file")
    parser.add_argument("--format", default="savedmodel,onnx", help=FORMATS_HELP)
    parser.add_argument("--out", type=output_path, default="exports", help="export root folder (default: exports)")
    parser.add_argument("--name", default=None,
                        help="model name, the folder under --out (default: the run folder's or model file's name)")
    parser.add_argument("--version", type=nonnegative_int, default=1,
                        help="model version, the folder under NAME (default 1)")
    parser.add_argument("--force", action="store_true",
                        help="replace OUT/NAME/VERSION if it holds an earlier nao-tf export (never anything else)")
    parser.add_argument("--opset", type=positive_int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--tolerance", type=finite_float(0.0, open_min=True), default=1e-4,
                        help="largest accepted difference from the Keras model, scaled by max(1, |output|) "
                             "(default 1e-4)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON instead of text")
    parser.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from nao_tf.export.exporter import export_model, parse_formats

    formats = parse_formats(args.format)  # a bad --format fails before TensorFlow loads
    log = (lambda _line: None) if args.json else print
    result = export_model(args.model, args.out, formats, name=args.name, version=args.version, force=args.force,
                          opset=args.opset, tolerance=args.tolerance, log=log)
    if args.json:
        print(json.dumps(result, indent=2))
    return 0
