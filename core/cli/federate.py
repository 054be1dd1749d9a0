"""``spanlab federate server|site|simulate``: federated fine-tuning on Flower.

``server`` hosts a federation (a Flower SuperLink running Spanlab's ServerApp), ``site``
joins one with a project (a Flower SuperNode), ``simulate`` runs a server and one site
per project on this machine. TLS is on unless ``--insecure`` is given (with a warning);
the certificate flags are Flower's own, and ``--auth-public-keys`` / ``--auth-key``
turn on Flower's SuperNode authentication. See core.federated.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from core.cli.common import PROG, open_project, project_path
from core.cli.train import _add_config_arguments, config_from_args
from core.errors import FederationError

DEFAULT_ADDRESS = "0.0.0.0:9092"


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``federate`` and its sub-commands to the CLI."""
    cmd = sub.add_parser(
        "federate",
        help="train one model across several sites without sharing their annotations",
        description="Federated fine-tuning on Flower: only weights and metrics leave a site.",
    )
    topics = cmd.add_subparsers(dest="federate_command", metavar="ROLE", required=True)

    server = topics.add_parser("server", help="host a federation (Flower SuperLink)")
    _add_rounds(server)
    server.add_argument("--address", default=DEFAULT_ADDRESS, help="HOST:PORT to listen on")
    server.add_argument("--project", help="the server's own project: its dev split scores "
                        "each round, and the federation is recorded as a run in it")  # fmt: skip
    server.add_argument("--labels", help="the label set, comma-separated (default: the project's)")
    server.add_argument("--out", help="the global model's folder (default: the run's folder)")
    server.add_argument("--wait", type=float, default=600, help="seconds to wait for the sites")
    _add_server_security(server)
    _add_config_arguments(server)
    server.set_defaults(func=cmd_server)

    site = topics.add_parser("site", help="join a federation with a project (Flower SuperNode)")
    site.add_argument("project", help="the site's .spanlab project (it never leaves this machine)")
    site.add_argument("--server", required=True, help="the server's HOST:PORT")
    site.add_argument("--root-certificates", help="CA certificate (PEM) that signed the server's")
    site.add_argument("--certificates", help="folder holding ca.crt (as Flower's scripts make)")
    site.add_argument(
        "--auth-key", help="this site's private key (Flower SuperNode authentication)"
    )
    site.add_argument("--insecure", action="store_true", help="no TLS (a trusted network only)")
    site.add_argument("--map-extra-to-o", action="store_true",
                      help="train spans of labels the server does not have as O")  # fmt: skip
    site.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    site.add_argument("--max-wait", type=float, default=300,
                      help="seconds to keep retrying (with back-off) an unreachable server")  # fmt: skip
    site.add_argument("--json-events", action="store_true", help="print every event as JSON")
    site.set_defaults(func=cmd_site)

    simulate = topics.add_parser("simulate", help="a server and one site per project, here")
    simulate.add_argument("sites", nargs="+", help="the sites' .spanlab projects")
    _add_rounds(simulate)
    simulate.add_argument("--project", help="the server's own project (dev scores, the run)")
    simulate.add_argument("--out", help="the global model's folder")
    simulate.add_argument("--map-extra-to-o", action="store_true",
                          help="sites train spans of labels the server lacks as O")  # fmt: skip
    _add_config_arguments(simulate)
    simulate.set_defaults(func=cmd_simulate)


def _add_rounds(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("federation")
    group.add_argument("--rounds", type=int, default=5, help="rounds of federated training")
    group.add_argument("--min-sites", type=int, help="sites needed for each round")
    group.add_argument(
        "--local-epochs", type=int, default=1, help="epochs each site trains a round"
    )
    group.add_argument("--strategy", choices=("fedavg", "fedprox", "fedavgm"), default="fedavg",
                       help="fedavg (default), fedprox (sites pull toward the global weights), "
                       "fedavgm (server momentum over the rounds)")  # fmt: skip
    group.add_argument("--server-momentum", type=float,
                       help="FedAvgM's server momentum (default 0.9)")  # fmt: skip
    group.add_argument("--round-timeout", type=float, default=3600,
                       help="seconds a round waits for the sites; later answers count as dropped")  # fmt: skip
    group.add_argument("--json-events", action="store_true", help="print every event as JSON")


def _add_server_security(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("TLS and site authentication (Flower's flags)")
    group.add_argument("--certificates", help="folder holding ca.crt, server.pem, server.key")
    group.add_argument("--ssl-ca-certfile", help="CA certificate (PEM)")
    group.add_argument("--ssl-certfile", help="the server's certificate (PEM)")
    group.add_argument("--ssl-keyfile", help="the server's private key (PEM)")
    group.add_argument("--auth-public-keys", nargs="+", default=[],
                       help="public keys of the sites allowed in (SuperNode authentication)")  # fmt: skip
    group.add_argument("--insecure", action="store_true", help="no TLS (a trusted network only)")


def _warn_insecure(args: argparse.Namespace) -> None:
    if args.insecure:
        print(f"{PROG}: warning: --insecure: weights travel unencrypted and anyone who can "
              "reach the port can take part; use it only on a trusted network.", file=sys.stderr)  # fmt: skip


def _server_security(args: argparse.Namespace) -> Any:
    from core.federated.runtime import Security

    ca, cert, key = args.ssl_ca_certfile, args.ssl_certfile, args.ssl_keyfile
    if args.certificates:
        folder = Path(args.certificates)
        ca, cert, key = (str(folder / n) for n in ("ca.crt", "server.pem", "server.key"))
    return Security(insecure=args.insecure, ca_cert=ca, cert=cert, key=key,
                    node_keys=tuple(args.auth_public_keys))  # fmt: skip


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {"strategy": args.strategy, "server_momentum": args.server_momentum,
            "round_timeout_s": args.round_timeout,
            "wait_s": getattr(args, "wait", 600)}  # fmt: skip


def _server_side(args: argparse.Namespace, default_labels: list[str], min_sites: int) -> tuple:
    """(job, project or None, recorder or None)."""
    from core.federated.plan import project_server_job, server_job

    labels = (
        [x for x in (args.labels or "").split(",") if x] if getattr(args, "labels", None) else []
    )
    config = config_from_args(args)
    if not args.project:
        if not args.out:
            raise FederationError("Say where the global model goes: --out DIR (or --project P).")
        job = server_job(config, labels or default_labels, args.rounds, min_sites,
                         args.local_epochs, args.out, **_options(args))  # fmt: skip
        return job, None, None
    project = open_project(args.project)
    job, recorder = project_server_job(project, config, args.rounds, min_sites,
                                       args.local_epochs, labels, args.out, **_options(args))  # fmt: skip
    return job, project, recorder


def _follow(events: Any, args: argparse.Namespace, recorder: Any) -> int:
    from core.federated.events import Finished, Stopped

    show = _printer(args.json_events)
    last = None
    try:
        for event in events:
            if recorder is not None:
                recorder.record(event)
            show(event)
            last = event
    except KeyboardInterrupt:
        if recorder is not None:
            recorder.record(Stopped(error="Interrupted: no model was written.", cancelled=True))
        raise
    finally:
        if recorder is not None:
            recorder.close()
    if isinstance(last, Finished):
        return 0
    if isinstance(last, Stopped):
        raise FederationError(last.error)
    raise FederationError("The federation ended without a result.")


def _printer(as_json: bool) -> Any:
    from core.federated.events import Note, RoundDone, SiteDropped, SiteResult

    def show(event: Any) -> None:
        if as_json:
            print(json.dumps(event.to_dict()), flush=True)
            return
        if isinstance(event, RoundDone):
            f1 = (
                "no server dev data"
                if event.global_f1 is None
                else f"global dev F1 {event.global_f1:.4f}"
            )
            mark = " (best)" if event.best else ""
            line = f"round {event.round}/{event.rounds}: {event.sites} site(s), {f1}{mark}, {event.seconds:.1f} s"
        elif isinstance(event, SiteResult):
            f1 = "" if event.dev_f1 is None else f", its dev F1 {event.dev_f1:.4f}"
            line = f"round {event.round}: site node {event.node}: {event.train_sentences} sentences{f1}"
        elif isinstance(event, SiteDropped):
            line = f"round {event.round}: site node {event.node} dropped: {event.reason}"
        elif isinstance(event, Note):
            line = event.message
        else:
            data = event.to_dict()
            kind = data.pop("kind")
            data.pop("metrics", None)
            line = f"{kind}: " + ", ".join(f"{k}={v}" for k, v in data.items())
        print(line, file=sys.stderr, flush=True)

    return show


def cmd_server(args: argparse.Namespace) -> int:
    from core.federated.host import host

    _warn_insecure(args)
    security = _server_security(args)
    security.check(server=True)
    job, project, recorder = _server_side(args, [], args.min_sites or 2)
    try:
        with tempfile.TemporaryDirectory(prefix="spanlab-federation-") as work:
            return _follow(host(job, args.address, security, Path(work)), args, recorder)
    finally:
        if project is not None:
            project.close()


def cmd_site(args: argparse.Namespace) -> int:
    from core.federated.host import Site, join
    from core.federated.runtime import Security
    from core.federated.site import SiteJob

    _warn_insecure(args)
    path = project_path(args.project)
    open_project(args.project, readonly=True).close()  # a clear error if it is not there
    ca = args.root_certificates or (
        str(Path(args.certificates) / "ca.crt") if args.certificates else None
    )
    security = Security(insecure=args.insecure, ca_cert=ca, auth_key=args.auth_key)
    job = SiteJob(project=str(path.resolve()), events="", map_extra_to_o=args.map_extra_to_o,
                  device=args.device)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="spanlab-site-") as work:
        site = Site(path.stem, job, security, Path(work), max_wait_s=args.max_wait)
        return _follow(join(site, args.server), args, None)


def cmd_simulate(args: argparse.Namespace) -> int:
    from core.federated.host import Site, host
    from core.federated.runtime import Security, free_port
    from core.federated.site import SiteJob, project_labels

    paths = [project_path(p) for p in args.sites]
    for path in paths:
        open_project(str(path), readonly=True).close()
    print(f"{PROG}: simulate: the server and {len(paths)} site(s) on this machine, over "
          "localhost without TLS.", file=sys.stderr)  # fmt: skip
    min_sites = args.min_sites or len(paths)
    job, project, recorder = _server_side(args, project_labels(paths[0]), min_sites)
    local = Security(insecure=True)
    try:
        with tempfile.TemporaryDirectory(prefix="spanlab-simulate-") as work:
            sites = [
                Site(p.stem, SiteJob(project=str(p.resolve()), events="",
                                     map_extra_to_o=args.map_extra_to_o,
                                     device=args.device or "auto"),
                     local, Path(work) / f"site-{i}", max_wait_s=60)
                for i, p in enumerate(paths, start=1)
            ]  # fmt: skip
            address = f"127.0.0.1:{free_port()}"
            return _follow(
                host(job, address, local, Path(work) / "server", sites=sites), args, recorder
            )
    finally:
        if project is not None:
            project.close()
