"""``nao-tf predict EXPORT IMAGE...``: top-5 classes of PNG/JPEG images from an export (ONNX Runtime or
SavedModel), to show that what ``nao-tf export`` wrote is usable as it is.

An image whose size differs from the model's input is refused (exit 2) unless ``--resize`` is given, which
resizes it bilinearly to the model's input size.
"""

from __future__ import annotations

import argparse
from typing import Any

from nao_tf.cli.argtypes import positive_int


def register(sub: Any) -> None:
    parser = sub.add_parser("predict", help="classify PNG/JPEG images with an export (ONNX Runtime or SavedModel)")
    parser.add_argument("export", metavar="EXPORT",
                        help="export folder (OUT, OUT/NAME or OUT/NAME/VERSION) or its model.onnx")
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="PNG or JPEG files")
    parser.add_argument("--backend", default="auto", choices=("auto", "onnx", "savedmodel", "tflite"),
                        help="runtime (default auto: ONNX Runtime if the export has model.onnx, else SavedModel)")
    parser.add_argument("--top", type=positive_int, default=5, help="classes to list per image (default 5)")
    parser.add_argument("--resize", action="store_true",
                        help="resize images of another size to the model's input (bilinear) instead of refusing")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=_predict)


def _predict(args: argparse.Namespace) -> int:
    from nao_tf.export.predict import format_predictions, predict_files, to_json

    result = predict_files(args.export, args.images, backend=args.backend, top=args.top, resize=args.resize)
    print(to_json(result) if args.json else format_predictions(result))
    return 0
