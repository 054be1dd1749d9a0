"""A federation deployed as on several machines, on localhost: ``spanlab federate
server`` with TLS and SuperNode authentication, and ``spanlab federate site`` processes
with their own keys. One site is killed (SIGKILL) during round 1, and a site whose key
the server does not know is refused."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_federated import _site

from core.federated.runtime import free_port
from core.store import Project

from process_support import CLI, child_env

TIMEOUT_S = 240  # a bound for the whole federation, not its expected time


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))  # fmt: skip


def make_certificates(folder: Path) -> Path:
    """A CA and a server certificate for localhost, as Flower's example script makes
    them (ca.crt, server.pem, server.key)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name("Spanlab test CA"))
        .issuer_name(_name("Spanlab test CA")).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP384R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = (
        x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    (folder / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    _write_key(key, folder / "server.key")
    return folder


def make_site_key(folder: Path, name: str) -> tuple[Path, Path]:
    """A site's key pair for SuperNode authentication, in OpenSSH form as Flower reads
    it (``ssh-keygen -t ecdsa -b 384`` makes the same)."""
    key = ec.generate_private_key(ec.SECP384R1())
    private, public = folder / name, folder / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.OpenSSH,
                                          serialization.NoEncryption()))  # fmt: skip
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                     serialization.PublicFormat.OpenSSH))  # fmt: skip
    return private, public


class Spanlab:
    """A ``spanlab`` process whose stdout (JSON events) and stderr are read as they come."""

    def __init__(self, *args: str) -> None:
        env = {**child_env(), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env, start_new_session=True,
        )  # fmt: skip
        self.events: list[dict] = []
        self.stderr: list[str] = []
        self._threads = [
            threading.Thread(target=self._read_events, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_events(self) -> None:
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.events.append(json.loads(line))

    def _read_stderr(self) -> None:
        self.stderr.extend(self.proc.stderr)

    def kinds(self) -> list[str]:
        return [e["kind"] for e in self.events]

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        for thread in self._threads:
            thread.join(10)
        return code

    def kill(self) -> None:
        """SIGKILL to the process and what it started in its session: no clean-up runs."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


def _until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Flower's processes, on Linux")
def test_a_tls_federation_with_site_keys_survives_a_killed_site_and_refuses_an_unknown_key(
    tmp_path, tiny_model_dir
):
    certs = make_certificates(tmp_path / "certs")
    keys = {name: make_site_key(certs, name) for name in ("a", "b", "c", "stranger")}
    projects = {
        name: _site(tmp_path / f"{name}.spanlab", ["LOC", "PER"], n, seed=seed)
        for name, n, seed in (("a", 12, 1), ("b", 12, 2), ("c", 12, 3), ("stranger", 4, 4))
    }
    server_project = _site(tmp_path / "server.spanlab", ["LOC", "PER"], 0, seed=5)
    address = f"127.0.0.1:{free_port()}"
    registered = [str(keys[name][1]) for name in ("a", "b", "c")]
    server = Spanlab("federate", "server", "--address", address, "--rounds", "2",
                     "--min-sites", "2", "--project", str(server_project), "--certificates",
                     str(certs), "--auth-public-keys", *registered, "--base-model",
                     str(tiny_model_dir), "--learning-rate", "5e-3", "--batch-size", "8",
                     "--method", "lora", "--lora-r", "4", "--round-timeout", "60",
                     "--wait", "120", "--json-events")  # fmt: skip
    sites: dict[str, Spanlab] = {}
    try:
        _until(lambda: "note" in server.kinds() or server.proc.poll() is not None, 90,
               "the SuperLink")  # fmt: skip
        assert server.proc.poll() is None, "".join(server.stderr)[-3000:]
        for name in ("a", "b", "c", "stranger"):
            sites[name] = Spanlab("federate", "site", str(projects[name]), "--server", address,
                                  "--certificates", str(certs), "--auth-key",
                                  str(keys[name][0]), "--max-wait", "20", "--json-events")  # fmt: skip
        # Site c is killed as round 1 begins, before it can answer.
        _until(lambda: "round-started" in server.kinds(), TIMEOUT_S, "round 1")
        sites["c"].kill()
        assert server.wait(TIMEOUT_S) == 0, "".join(server.stderr)[-3000:]
        for name in ("a", "b"):
            assert sites[name].wait(60) == 0, "".join(sites[name].stderr)[-3000:]
        assert sites["stranger"].wait(90) == 1
    finally:
        for process in (server, *sites.values()):
            process.kill()

    events = server.events
    # Three registered sites passed the label check; the stranger never got in.
    assert [e["kind"] for e in events].count("joined") == 3
    dropped = [e for e in events if e["kind"] == "site-dropped"]
    killed = [e["node"] for e in sites["c"].events if e["kind"] == "joined"]
    assert [(e["round"], e["node"]) for e in dropped] == [(1, killed[0])], dropped
    rounds = [e for e in events if e["kind"] == "round-done"]
    assert [(e["round"], e["sites"]) for e in rounds] == [(1, 2), (2, 2)]
    # Flower saw its heartbeat stop, or the round's time limit passed first.
    assert any(why in dropped[0]["reason"] for why in ("Node Unavailable", "no answer within"))
    assert "--insecure" not in "".join(server.stderr)  # TLS was on: no warning
    final = events[-1]
    assert final["kind"] == "finished"
    with Project.open(server_project, readonly=True) as project:
        run = project.runs()[0]
        assert run["status"] == "done" and run["output_dir"] == final["output_dir"]
    assert (Path(final["output_dir"]) / "model.safetensors").exists()
    # The unknown key: a clear message, and nothing of its project was used.
    refused = "".join(sites["stranger"].stderr)
    assert "refused this site" in refused and str(keys["stranger"][0]) in refused, refused[-2000:]
