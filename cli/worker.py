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

from nao_tf.errors import ConfigError


def register(sub: Any) -> None:
    parser = sub.add_parser("worker", help="train child networks for a distributed 'nao-tf search' (keras-tuner)")
    parser.add_argument("--host", default=None, help="chief address (default $KERASTUNER_ORACLE_IP or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="chief port (default $KERASTUNER_ORACLE_PORT)")
    parser.add_argument("--id", default=None, help="worker id (default $KERASTUNER_TUNER_ID or worker-<pid>)")
    parser.add_argument("--connect-timeout", type=float, default=30.0,
                        help="seconds to wait for the chief before giving up (default 30)")
    parser.add_argument("--quiet", action="store_true", help="no line per finished trial")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    host = args.host or os.environ.get("KERASTUNER_ORACLE_IP") or "127.0.0.1"
    port_text = args.port if args.port is not None else os.environ.get("KERASTUNER_ORACLE_PORT")
    if port_text is None:
        raise ConfigError("no chief port: pass --port or set KERASTUNER_ORACLE_PORT (the chief prints both)")
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"chief port must be an integer, got {port_text!r}") from None
    if args.connect_timeout <= 0:
        raise ConfigError(f"--connect-timeout must be positive, got {args.connect_timeout}")
    tuner_id = args.id or os.environ.get("KERASTUNER_TUNER_ID") or f"worker-{os.getpid()}"
    from nao_tf.search.oracle import run_worker

    result = run_worker(host, port, tuner_id, args.connect_timeout, quiet=args.quiet)
    print(json.dumps(result))
    return 0
