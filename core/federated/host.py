"""Hosting a federation and joining one, as generators of federation events.

:func:`host` runs the server side (a SuperLink, the run submitted with ``flwr run``)
and, for ``spanlab federate simulate``, sites on this machine too; :func:`join` runs one
site (a SuperNode). Both check ``should_stop`` between events, stop every process they
started when they end (also on Ctrl+C or an error), and end with one final event
(``Finished`` or ``Stopped``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from core.errors import FederationError
from core.federated import runtime
from core.federated.events import FINAL, EventReader, FedEvent, Finished, Note, Stopped
from core.federated.server import ServerJob
from core.federated.site import SiteJob

POLL_S = 0.2
GRACE_S = 3.0  # after a process ends, for its last events to be read
#: What Flower's SuperNode logs when the SuperLink's node authentication turns it away.
_REFUSED = (
    "must be registered",
    "Failed to activate SuperNode",
    "Missing authentication metadata",
    "Invalid signature",
)


@dataclass
class Site:
    """A site: its job, its Flower SuperNode, and the events its ClientApp writes."""

    name: str
    job: SiteJob
    security: runtime.Security
    workdir: Path
    max_wait_s: float = 300.0

    def start(self, server: str) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.job = replace(self.job, events=str(self.workdir / "site-events.jsonl"))
        job_file = self.workdir / "site.json"
        self.job.save(job_file)
        env = runtime.flower_env(self.workdir / "flower")
        self.reader = EventReader(self.job.events)
        self.node = runtime.supernode(
            server, self.security, job_file, env, self.workdir / "supernode.log", self.max_wait_s
        ).start()
        self.server = server

    def exit_error(self) -> str:
        """Why the SuperNode ended on its own."""
        log = self.node.tail(30)
        if any(sign in log for sign in _REFUSED):
            key = self.security.auth_key
            given = (
                f"this site's key ({key}) is not one the server registered"
                if key
                else "this site gave no key (--auth-key)"
            )
            return (
                f"The federation server at {self.server} refused this site: it lets in only "
                f"sites whose public key it registered (SuperNode authentication), and "
                f"{given}. Send the server's operator this site's public key (the .pub file "
                "beside the private key) to add to --auth-public-keys, then join again."
            )
        if "Giving up reconnection" in log or "Connection attempt failed" in log:
            return (
                f"Could not reach the federation server at {self.server}: Flower retried with "
                f"back-off for {self.max_wait_s:g} s and gave up. Check the address, that "
                "'spanlab federate server' runs there, the TLS settings and the firewall."
            )
        return f"Flower's SuperNode of {self.name} stopped:\n{self.node.tail()}"


def join(
    site: Site, server: str, should_stop: Callable[[], bool] = lambda: False
) -> Iterator[FedEvent]:
    """Take part in a federation as one site, until the server ends it."""
    site.security.check(server=False)
    site.start(server)
    try:
        ended_at = None
        while True:
            for event in site.reader.new_events():
                yield event
                if isinstance(event, FINAL):
                    return
            if should_stop():
                yield Stopped(error="Left the federation on request.", cancelled=True)
                return
            if not site.node.alive:
                ended_at = ended_at or time.monotonic()
                if time.monotonic() - ended_at > GRACE_S:
                    yield Stopped(error=site.exit_error())
                    return
            time.sleep(POLL_S)
    finally:
        site.node.stop()


def host(
    job: ServerJob,
    address: str,
    security: runtime.Security,
    workdir: Path,
    should_stop: Callable[[], bool] = lambda: False,
    sites: Sequence[Site] = (),
) -> Iterator[FedEvent]:
    """Run a federation's server (and ``sites``, on this machine) to its end."""
    security.check(server=True)
    workdir.mkdir(parents=True, exist_ok=True)
    home = workdir / "flower"
    env = runtime.flower_env(home)
    job = replace(job, events=str(workdir / "server-events.jsonl"), own_sites=len(sites))
    job_file = workdir / "job.json"
    job.save(job_file)
    host_name, port = runtime.split_address(address)
    connect = f"127.0.0.1:{port}" if host_name in ("0.0.0.0", "::", "") else address
    link = runtime.superlink(address, security, env, workdir / "superlink.log")
    processes: list[runtime.Process] = [link]
    reader = EventReader(job.events)
    try:
        link.start()
        runtime.wait_for_port(*runtime.split_address(connect), link)
        runtime.write_connection(home, connect, security)
        runtime.register_node_keys(security.node_keys, env)
        yield Note(message=f"Flower SuperLink listening on {address}.")
        for site in sites:
            site.start(connect)
            processes.append(site.node)
        app = runtime.write_app(workdir / "app")
        run = runtime.submit(app, job_file, env, workdir / "flwr-run.log").start()
        processes.append(run)
        yield from _follow(reader, run, link, sites, should_stop)
    finally:
        for process in reversed(processes):
            process.stop()


def _follow(reader: EventReader, run: runtime.Process, link: runtime.Process,
            sites: Sequence[Site], should_stop: Callable[[], bool]) -> Iterator[FedEvent]:  # fmt: skip
    ended_at = None
    while True:
        for event in reader.new_events():
            yield event
            if isinstance(event, FINAL):
                return
        for site in sites:
            for event in site.reader.new_events():
                if isinstance(event, Stopped):
                    yield Note(message=f"{site.name}: {event.error}", level="warning")
                elif isinstance(event, Note):
                    yield Note(message=f"{site.name}: {event.message}", level=event.level)
        if should_stop():
            yield Stopped(error="Stopped on request: no model was written.", cancelled=True)
            return
        if not run.alive or not link.alive:
            ended_at = ended_at or time.monotonic()
            if time.monotonic() - ended_at > GRACE_S:
                gone = run if not run.alive else link
                yield Stopped(error=f"Flower's {gone.name} ended without a result:\n{gone.tail()}")
                return
        time.sleep(POLL_S)


def final_of(events: Iterator[FedEvent], on_event: Callable[[FedEvent], None]) -> FedEvent:
    """Pass every event to ``on_event``; return the final one."""
    last: FedEvent | None = None
    for event in events:
        on_event(event)
        last = event
    if not isinstance(last, FINAL):
        raise FederationError("The federation ended without a final event.")
    return last


__all__ = ["Finished", "Site", "Stopped", "final_of", "host", "join"]
