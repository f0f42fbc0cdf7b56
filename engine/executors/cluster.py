"""Joining a running Ray cluster (``--ray-address``): its authentication
token, and a quick look at the address before Ray is asked to join.

Token authentication (Ray 2.52+; ``ray start`` turns it on for a local
cluster since 2.59): a driver that names its cluster by ``HOST:PORT`` sends
the token only when ``RAY_AUTH_MODE=token``. The bench sets that mode when
a token is available where Ray's token-auth guide says it looks
(``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH`` names, or
``~/.ray/auth_token``) and the user has not chosen a mode.

Before ``ray.init``, which retries for 20-40 s and prints raw lines from its
C++ client on failure, ``check`` looks at the address: a TCP connect (a few
seconds), then a child process that asks the cluster's GCS for its id and
its Ray and Python versions (its output, Ray's log lines included, never
reaches the console). Each failure is one ``BenchError`` line naming the
cause and the fix: nothing listens there, the token is missing or wrong, the
port is not a Ray head's, or the driver's Ray or Python differs from the
cluster's.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from engine.errors import BenchError

CONNECT_TIMEOUT = 3.0  # seconds for the TCP connect
PROBE_TIMEOUT = 8.0  # seconds for the GCS question (the child's Ray import included)

# run in a child process: one JSON line on stdout; Ray's own lines go to its stderr, which is kept
_PROBE = r"""
import json, sys
out = {}
try:
    from ray._raylet import GcsClient
    client = GcsClient(address=sys.argv[1])
    out["cluster_id"] = client.cluster_id.hex()
    try:
        import ray._common.usage.usage_lib as usage
        meta = usage.get_cluster_metadata(client) or {}
    except Exception:
        meta = {}
    out["cluster"] = [meta.get("ray_version"), meta.get("python_version")]
    from ray._private.utils import compute_version_info
    out["driver"] = list(compute_version_info())
except Exception as exc:
    out["error"] = type(exc).__name__
    out["message"] = str(exc).splitlines()[0] if str(exc) else ""
print(json.dumps(out), flush=True)
"""


def token_source(environ=None) -> str | None:
    """Where Ray will read this driver's token from, or None (Ray's order:
    ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``)."""
    environ = os.environ if environ is None else environ
    if environ.get("RAY_AUTH_TOKEN", "").strip():
        return "RAY_AUTH_TOKEN"
    path = environ.get("RAY_AUTH_TOKEN_PATH", "").strip()
    if path:
        return f"RAY_AUTH_TOKEN_PATH={path}" if Path(path).expanduser().is_file() else None
    default = Path.home() / ".ray" / "auth_token"
    return str(default) if default.is_file() else None


def use_token(environ=None) -> str | None:
    """Turn token authentication on for this driver when a token is available
    and ``RAY_AUTH_MODE`` is not set (Ray leaves it off for an explicit
    address); returns where the token comes from. Called before ``ray.init``;
    Ray's cached configuration is refreshed when Ray is imported already."""
    environ = os.environ if environ is None else environ
    source = token_source(environ)
    if source is None or environ.get("RAY_AUTH_MODE"):
        return source
    environ["RAY_AUTH_MODE"] = "token"
    if "ray._raylet" in sys.modules:  # what Ray's own ray.init(address="auto") does in this case
        sys.modules["ray._raylet"].Config.initialize("")
    return source


def split_address(address: str) -> tuple[str, int] | None:
    """``HOST:PORT`` as (host, port); None for what Ray resolves itself
    (``auto``, ``ray://...``, ``local``)."""
    if address in ("auto", "local") or "://" in address:
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BenchError(f"--ray-address {address}: give auto or HOST:PORT (the head's GCS port, 6379 by default)")
    return host.strip("[]"), int(port)


def _auth_hint(source: str | None) -> str:
    mode = os.environ.get("RAY_AUTH_MODE", "")
    off = f" (RAY_AUTH_MODE={mode} here)" if mode and mode != "token" else ""
    what = (f"the cluster refused the token from {source}{off}" if source
            else "the cluster asks for an authentication token and this driver has none")
    return (f"{what}: give the driver the cluster's token "
            "(on the head: ray get-auth-token; here: RAY_AUTH_TOKEN=TOKEN or RAY_AUTH_TOKEN_PATH=FILE)")


def check(address: str) -> None:
    """A one-line ``BenchError`` when the cluster at ``address`` cannot be
    joined; returns at once when it can (about one second and a half)."""
    hostport = split_address(address)
    if hostport is None:
        return
    host, port = hostport
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except socket.timeout:
        raise BenchError(f"--ray-address {address}: no answer within {CONNECT_TIMEOUT:.0f} s (a firewall, or the "
                         f"wrong host): check the address and that port {port} is open from here") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise BenchError(f"--ray-address {address}: cannot connect ({reason}): start the head there with "
                         f"'ray start --head --port={port}' or give the address it printed") from None
    source = use_token()
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE, f"{host}:{port}"], capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        raise BenchError(f"--ray-address {address}: the port answers but no Ray cluster replied within "
                         f"{PROBE_TIMEOUT:.0f} s: give the GCS port that 'ray start --head' printed") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise BenchError(f"--ray-address {address}: could not ask the cluster ({last})")
    answer = json.loads(lines[-1])
    error, message = answer.get("error"), answer.get("message", "")
    if error == "AuthenticationError" or "InvalidAuthToken" in message or "Unauthenticated" in done.stderr:
        raise BenchError(f"--ray-address {address}: {_auth_hint(source)}")
    if error is not None:
        raise BenchError(f"--ray-address {address}: not a Ray cluster's GCS port ({error}: {message[:120]}): "
                         "give the address 'ray start --head' printed")
    mismatch = version_mismatch(answer.get("cluster") or [None, None], answer.get("driver") or [None, None])
    if mismatch:
        raise BenchError(f"--ray-address {address}: {mismatch}")


def version_mismatch(cluster: list, driver: list) -> str | None:
    """The one-line account of a Ray or Python version the driver does not
    share with the cluster (Ray joins only the same Ray and Python versions)."""
    if cluster[0] is None:  # an older head that does not say: ray.init judges
        return None
    if list(cluster) == list(driver):
        return None
    return (f"the cluster runs Ray {cluster[0]} on Python {cluster[1]}, this driver Ray {driver[0]} on Python "
            f"{driver[1]}: install the cluster's Ray and Python versions here (pip install \"ray[tune]=={cluster[0]}\")")


def join_error(address: str, exc: BaseException) -> BenchError:
    """``ray.init``'s failure to join, as one line (what ``check`` could not foresee)."""
    text = str(exc)
    if "Version mismatch" in text:
        import re

        found = re.findall(r"Ray: (\S+)\s+Python: (\S+)", text)
        if len(found) == 2:
            return BenchError(f"--ray-address {address}: {version_mismatch(list(found[0]), list(found[1]))}")
    if type(exc).__name__ == "AuthenticationError" or "InvalidAuthToken" in text:
        return BenchError(f"--ray-address {address}: {_auth_hint(token_source())}")
    first = text.splitlines()[0] if text else type(exc).__name__
    return BenchError(f"--ray-address {address}: cannot join the Ray cluster ({first[:200]})")

