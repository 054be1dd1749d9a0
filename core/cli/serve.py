"""``spanlab serve MODEL_DIR``: a model behind an HTTP JSON API (core.deploy.server)."""

from __future__ import annotations

import argparse
import copy
import ipaddress
import logging
import logging.config
from pathlib import Path

from core.cli.common import quiet_transformers
from core.deploy import limits
from core.errors import SpanlabError
from core.training.config import DEVICES, PRECISIONS

log = logging.getLogger("spanlab.serve")

LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def register(sub: argparse._SubParsersAction) -> None:
    """Add serve to the CLI."""
    cmd = sub.add_parser(
        "serve",
        help="answer predictions over HTTP (a JSON API)",
        description="Serve a model folder over HTTP: GET /health, GET /labels, POST /predict "
        'with {"texts": [...]}; OpenAPI docs at /docs. Listens on localhost unless --host '
        "says otherwise.",
    )
    cmd.add_argument("model_dir", help="a model folder (e.g. a run's output folder)")
    cmd.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens the "
        "server to the network, without authentication)",
    )
    cmd.add_argument(
        "--port", type=int, default=8080, help="port to listen on (default %(default)s)"
    )
    cmd.add_argument(
        "--max-batch",
        type=_positive,
        default=limits.DEFAULT_MAX_BATCH,
        help="texts of concurrent requests tagged together (default %(default)s)",
    )
    cmd.add_argument(
        "--max-wait-ms",
        type=float,
        default=limits.DEFAULT_MAX_WAIT_MS,
        help="how long a batch waits for more requests to join it (default %(default)s ms)",
    )
    cmd.add_argument(
        "--max-text-chars",
        type=_positive,
        default=limits.DEFAULT_MAX_TEXT_CHARS,
        help="longest text accepted, in characters (default %(default)s)",
    )
    cmd.add_argument(
        "--max-texts",
        type=_positive,
        default=limits.DEFAULT_MAX_TEXTS,
        help="most texts in one request (default %(default)s)",
    )
    cmd.add_argument("--device", choices=DEVICES, default="auto")
    cmd.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="torch backend: auto = bf16 where the device computes it natively, no = fp32 "
        "(steadier memory on a CPU under varied batch shapes)",
    )
    cmd.add_argument(
        "--backend",
        choices=("auto", "torch", "onnx"),
        default="auto",
        help="what runs the model (default: ONNX Runtime where the folder holds an "
        "exported model.onnx, else torch)",
    )
    cmd.add_argument(
        "--threads", type=_positive, default=None, help="CPU threads (default: the cores)"
    )
    cmd.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    cmd.add_argument("--no-access-log", action="store_true", help="do not log a line per request")
    cmd.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from core.deploy.memory import bound_kernel_caches
    from core.deploy.server import create_app
    from core.training.predict import Predictor

    quiet_transformers()
    log_config = _log_config(args.log_level)
    logging.config.dictConfig(log_config)
    warning = exposure_warning(args.host)
    if warning:
        log.warning(warning)
    bound_kernel_caches()  # before the first model call: see core.deploy.memory
    predictor = Predictor(
        Path(args.model_dir),
        device=args.device,
        precision=args.precision,
        backend=args.backend,
        threads=args.threads,
    )
    log.info(
        "Loaded %s: %d labels (%s); %s on %s, %s",
        args.model_dir,
        len(predictor.labels),
        ", ".join(predictor.labels),
        predictor.backend,
        predictor.device_name,
        predictor.precision,
    )
    app = create_app(
        predictor,
        max_batch=args.max_batch,
        max_text_chars=args.max_text_chars,
        max_texts=args.max_texts,
        max_wait_ms=args.max_wait_ms,
        model_name=Path(args.model_dir).name,
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=log_config,
        log_level=args.log_level,
        access_log=not args.no_access_log,
        timeout_graceful_shutdown=30,
    )
    bare = args.host.strip("[]")
    where = f"[{bare}]" if ":" in bare else bare
    log.info("POST texts to http://%s:%d/predict; API docs at /docs", where, args.port)
    try:
        uvicorn.Server(config).run()
    except SystemExit as exit_:  # uvicorn exits when it cannot listen (it logged why)
        if exit_.code in (0, None):
            return 0
        raise SpanlabError(
            f"Cannot serve on {args.host}:{args.port} (see the log above): choose another "
            "--port, or stop the program that listens there."
        ) from None
    return 0


def exposure_warning(host: str) -> str | None:
    """A warning when ``host`` lets other machines reach the server, else None."""
    name = host.strip("[]").lower()
    if name in LOCAL_NAMES:
        return None
    try:
        if ipaddress.ip_address(name).is_loopback:
            return None
    except ValueError:
        pass  # a host name: it may resolve to any address
    return (
        f"Listening on {host}, not only on this machine: anyone who can reach it may use the "
        "model (the server has no authentication). Put it behind a reverse proxy with "
        "authentication, or use --host 127.0.0.1."
    )


def _log_config(level: str) -> dict:
    """uvicorn's logging, with Spanlab's server messages in the same form."""
    import uvicorn.config

    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["spanlab"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number
