"""``nao-tf worker``: train child networks for a chief ``nao-tf search --evaluator child --workers N``.

The chief's address comes from ``--host``/``--port`` or keras-tuner's variables ``KERASTUNER_ORACLE_IP`` /
``KERASTUNER_ORACLE_PORT``; the worker's id from ``--id`` or ``KERASTUNER_TUNER_ID`` (default
``worker-<pid>``; a worker restarted with the same id re-runs its unfinished trial).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from nao_tf.cli.argtypes import finite_float, port
from nao_tf.errors import ConfigError

# A day: longer is a typo, and the deadline must stay a finite timestamp.
MAX_CONNECT_TIMEOUT = 86400.0


def register(sub: Any) -> None:
    parser = sub.add_parser("worker", help="train child networks for a distributed 'nao-tf search' (keras-tuner)")
    parser.add_argument("--host", default=None, help="chief address (default $KERASTUNER_ORACLE_IP or 127.0.0.1)")
    parser.add_argument("--port", type=port, default=None, help="chief port (default $KERASTUNER_ORACLE_PORT)")
    parser.add_argument("--id", default=None, help="worker id (default $KERASTUNER_TUNER_ID or worker-<pid>)")
    parser.add_argument("--connect-timeout", type=finite_float(0.0, MAX_CONNECT_TIMEOUT, open_min=True), default=30.0,
                        help="seconds to wait for the chief before giving up (default 30)")
    parser.add_argument("--quiet", action="store_true", help="no line per finished trial")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    host = args.host or os.environ.get("KERASTUNER_ORACLE_IP") or "127.0.0.1"
    port_text = args.port if args.port is not None else os.environ.get("KERASTUNER_ORACLE_PORT")
    if port_text is None:
        raise ConfigError("no chief port: pass --port or set KERASTUNER_ORACLE_PORT (the chief prints both)")
    try:
        chief_port = port(str(port_text))
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"chief port {port_text!r}: {exc}; give the port the chief printed") from None
    tuner_id = args.id or os.environ.get("KERASTUNER_TUNER_ID") or f"worker-{os.getpid()}"
    from nao_tf.search.oracle import run_worker

    def on_trial(trial_id: str, arch: str, score: float) -> None:
        if not args.quiet:
            print(f"nao-tf worker {tuner_id}: trial {trial_id} {arch} -> {score:.4f}", flush=True)

    result = run_worker(host, chief_port, tuner_id, args.connect_timeout, on_trial=on_trial)
    print(json.dumps(result))
    return 0
