"""Flower's own processes on this machine: SuperLink, SuperNode and ``flwr run``.

Spanlab adds no transport: the server is a ``flower-superlink`` to which ``flwr run``
submits Spanlab's Flower app (a tiny app folder whose components are
``core.federated.apps``), and each site a ``flower-supernode``. TLS and SuperNode
authentication are Flower's, passed through as its flags. Every process is started in
a session of its own so that stopping it stops the ServerApp / ClientApp processes it
started too; nothing outlives the object that started it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import FederationError

APP_NAME = "spanlabfederation"  # the Flower app's folder, project and package name
CONNECTION = "spanlab"  # the SuperLink connection in the Flower configuration
STOP_TIMEOUT_S = 10


@dataclass(frozen=True)
class Security:
    """TLS and node authentication, as Flower's processes take them.

    Server: ``ca_cert`` + ``cert`` + ``key`` (Flower's ``--ssl-ca-certfile``,
    ``--ssl-certfile``, ``--ssl-keyfile``) and, to let only known sites in, their public
    keys (``node_keys``: SuperNode authentication). Site: ``ca_cert`` (Flower's
    ``--root-certificates``) and its private key (``auth_key``). ``insecure`` turns TLS
    off and must be asked for.
    """

    insecure: bool = False
    ca_cert: str | None = None
    cert: str | None = None
    key: str | None = None
    node_keys: tuple[str, ...] = ()
    auth_key: str | None = None

    def check(self, server: bool) -> None:
        files = [self.ca_cert, self.cert, self.key] if server else [self.ca_cert]
        given = [f for f in files if f]
        for path in [*given, *self.node_keys, *([self.auth_key] if self.auth_key else [])]:
            if not Path(path).is_file():
                raise FederationError(f"The file {path} does not exist: check the path.")
        if self.insecure:
            return
        if len(given) != len(files):
            need = (
                "--ssl-ca-certfile, --ssl-certfile and --ssl-keyfile (or --certificates DIR)"
                if server
                else "--root-certificates (the CA certificate that signed the server's)"
            )
            raise FederationError(
                f"TLS needs {need}. To run without encryption (a trusted network only), "
                "pass --insecure explicitly."
            )

    def superlink_args(self) -> list[str]:
        if self.insecure:
            args = ["--insecure"]
        else:
            args = ["--ssl-ca-certfile", str(self.ca_cert), "--ssl-certfile", str(self.cert),
                    "--ssl-keyfile", str(self.key)]  # fmt: skip
        return args + (["--enable-supernode-auth"] if self.node_keys else [])

    def supernode_args(self) -> list[str]:
        args = ["--insecure"] if self.insecure else ["--root-certificates", str(self.ca_cert)]
        return args + (
            ["--auth-supernode-private-key", str(self.auth_key)] if self.auth_key else []
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise FederationError(f"{address!r} is not an address: write it as HOST:PORT.")
    return host.strip("[]"), int(port)


def flower_env(home: Path) -> dict[str, str]:
    """The environment of Flower's processes: their own Flower home, this Python's
    commands first on the PATH, and this Spanlab importable."""
    env = dict(os.environ)
    repo = str(Path(__file__).resolve().parents[2])
    env["FLWR_HOME"] = str(home)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo, env.get("PYTHONPATH")) if p)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def write_app(folder: Path) -> Path:
    """The Flower app folder ``flwr run`` bundles: a pyproject naming Spanlab's apps."""
    app = folder / APP_NAME
    (app / APP_NAME).mkdir(parents=True, exist_ok=True)
    (app / "pyproject.toml").write_text(
        f"""[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{APP_NAME}"
version = "1.0.0"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "spanlab"

[tool.flwr.app.components]
serverapp = "{APP_NAME}.apps:server_app"
clientapp = "{APP_NAME}.apps:client_app"

[tool.flwr.app.config]
job = ""
""",
        encoding="utf-8",
    )
    (app / APP_NAME / "__init__.py").write_text(
        '"""Spanlab\'s federated app."""\n', encoding="utf-8"
    )
    (app / APP_NAME / "apps.py").write_text(
        '"""Spanlab\'s Flower apps (see core.federated.apps)."""\n\n'
        "from core.federated.apps import client_app, server_app\n\n"
        '__all__ = ["client_app", "server_app"]\n',
        encoding="utf-8",
    )
    return app


def write_connection(home: Path, address: str, security: Security) -> None:
    """The Flower configuration ``flwr`` reads: one SuperLink connection."""
    home.mkdir(parents=True, exist_ok=True)
    lines = ["[superlink]", f'default = "{CONNECTION}"', "", f"[superlink.{CONNECTION}]",
             f'address = "{address}"']  # fmt: skip
    if security.insecure:
        lines.append("insecure = true")
    else:
        lines.append(f'root-certificates = "{security.ca_cert}"')
    (home / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _die_with_parent_hook() -> object:
    """Linux: a function run in the child before Flower starts that asks the kernel for
    SIGTERM when the process that started it dies, even by SIGKILL, so a killed
    ``spanlab federate`` leaves no SuperNode behind. ``prctl`` is looked up here, in the
    parent, so the child only makes the one call. None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    set_death_signal, sigterm = 1, int(signal.SIGTERM)  # PR_SET_PDEATHSIG

    def hook() -> None:
        prctl(set_death_signal, sigterm)

    return hook


_DIE_WITH_PARENT = _die_with_parent_hook()


@dataclass
class Process:
    """One of Flower's processes, its output in a log file, in a session of its own."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = field(default=None, init=False)

    def start(self) -> Process:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, start_new_session=True, preexec_fn=_DIE_WITH_PARENT,
            )  # fmt: skip
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 8) -> str:
        if not self.log.exists():
            return ""
        text = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM to the process and its children, then SIGKILL if they linger."""
        if self.proc is None or self.proc.poll() is not None:
            self._kill_group(signal.SIGKILL)  # children it left, if any
            return
        self._kill_group(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._kill_group(signal.SIGKILL)
            self.proc.wait(STOP_TIMEOUT_S)
        self._kill_group(signal.SIGKILL)

    def _kill_group(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)


def wait_for_port(host: str, port: int, process: Process, timeout_s: float = 60) -> None:
    """Until something listens on ``host:port``; FederationError if ``process`` ends."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process.alive:
            raise FederationError(
                f"Flower's {process.name} stopped as it started:\n{process.tail()}"
            )
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise FederationError(f"Flower's {process.name} did not start within {timeout_s:g} s.")


def superlink(address: str, security: Security, env: dict[str, str], log: Path) -> Process:
    host, port = split_address(address)
    args = ["flower-superlink", "--host", host, "--port", str(port),
            "--disable-runtime-dependency-installation", *security.superlink_args()]  # fmt: skip
    return Process("SuperLink", args, env, log)


def supernode(server: str, security: Security, site_job: Path, env: dict[str, str],
              log: Path, max_wait_s: float) -> Process:  # fmt: skip
    args = ["flower-supernode", "--superlink", server, "--port", str(free_port()),
            "--node-config", f'site="{site_job}"', "--max-wait-time", f"{max_wait_s:g}",
            *security.supernode_args()]  # fmt: skip
    return Process("SuperNode", args, env, log)


def submit(app: Path, job: Path, env: dict[str, str], log: Path) -> Process:
    args = ["flwr", "run", str(app), CONNECTION, "--stream", "--run-config", f'job="{job}"']
    return Process("flwr run", args, env, log)


def register_node_keys(keys: tuple[str, ...], env: dict[str, str]) -> None:
    """Let the sites with these public keys in (Flower's SuperNode authentication)."""
    for key in keys:
        done = subprocess.run(
            ["flwr", "supernode", "register", str(key), CONNECTION],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if done.returncode != 0:
            raise FederationError(
                f"Flower could not register the site key {key}: "
                f"{(done.stdout + done.stderr).strip()[-500:]}"
            )
