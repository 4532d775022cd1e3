"""A two-node Ray cluster on this machine whose worker node shares no files with the driver.

Used by the cluster tests and ``benchmarks/cluster_check.py`` (issue 14): a head and a worker
node (``ray start --block``; each stopped by ending its own process, never a machine-wide
``ray stop``), token authentication on, loopback addresses only, one CPU each. The worker node
runs in its own mount namespace (``unshare --mount``) with a tmpfs over ``hidden`` (the driver's
working directory and run roots) and over the head's Ray temp directory (a node of a real
cluster has its own: sharing it, the worker node's runtime-env clean-up deleted the head's
unpacked working directories).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import attrs

__all__ = ["LocalCluster", "local_cluster"]

BIN = Path(sys.executable).parent


@attrs.frozen
class LocalCluster:
    """``address`` of the head; ``client_env``: ``RAY_ADDRESS`` and the token in ``HOME`` but no
    ``RAY_AUTH_MODE`` (the tool must present the token itself); ``node_env``: the nodes' own."""

    address: str
    client_env: dict[str, str]
    node_env: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in reversed(procs):  # worker node first, then the head
        proc.terminate()  # --block: ending this process stops the node it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _check_nodes(env: dict[str, str], address: str, marker: Path) -> None:
    """Until both nodes are alive (bounded); then exactly one node, the head, must see ``marker``:
    the other really has no view of the driver's files."""
    probe = ("import os, ray, time\n"
             "from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as On\n"
             f"ray.init(address={address!r}, log_to_driver=False, logging_level='ERROR')\n"
             "for _ in range(60):\n"
             "    if sum(n['Alive'] for n in ray.nodes()) >= 2: break\n"
             "    time.sleep(1)\n"
             "sees = ray.remote(lambda: os.path.exists(%r))\n"
             "print(sorted(ray.get([sees.options(scheduling_strategy=On(n['NodeID'], soft=False)).remote()\n"
             "                      for n in ray.nodes() if n['Alive']])))\n" % str(marker))
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    if out.returncode != 0 or not out.stdout.strip().endswith("[False, True]"):
        raise RuntimeError(f"the local cluster did not come up with one blind node: {out.stdout} {out.stderr[-2000:]}")


@contextlib.contextmanager
def local_cluster(base: Path, hidden: Path, *, extra_env: dict[str, str] | None = None,
                  dashboard_port: int = 0) -> Iterator[LocalCluster]:
    """Start the cluster (its files under ``base``, which should be short: Ray's socket paths
    live there), yield it, stop it, also when starting fails. ``dashboard_port`` turns the head's
    dashboard and job server on (``ray job submit``); ``extra_env`` goes to the nodes."""
    (base / "home" / ".ray").mkdir(parents=True)
    (base / "home" / ".ray" / "auth_token").write_text("automl-nas-test-token-" + "0" * 16)
    port = _free_port()
    address = f"127.0.0.1:{port}"
    # The nodes' PATH has the tool's environment, as on a cluster installed with it (job entrypoints use it).
    env = {**os.environ, **(extra_env or {}), "HOME": str(base / "home"), "RAY_AUTH_MODE": "token",
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("RAY_ADDRESS", None)
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=0", "--object-store-memory=100000000", "--block"]
    dashboard = (["--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}"]
                 if dashboard_port else ["--include-dashboard=false"])
    procs = [subprocess.Popen([str(BIN / "ray"), "start", "--head", f"--port={port}", *dashboard,
                               f"--temp-dir={base / 't'}", *common], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    marker = hidden / "driver-only"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if procs[0].poll() is not None:
                    raise RuntimeError("ray start --head exited early") from None
                time.sleep(0.5)
        worker = shlex.join([str(BIN / "ray"), "start", f"--address={address}", *common])
        procs.append(subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                       f"mount -t tmpfs automl-hidden {shlex.quote(str(hidden))} && "
                                       f"mount -t tmpfs node-temp {shlex.quote(str(base / 't'))} && exec {worker}"],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        marker.touch()
        _check_nodes(env, address, marker)
        client = {**env, "RAY_ADDRESS": address}
        client.pop("RAY_AUTH_MODE")
        yield LocalCluster(address=address, client_env=client, node_env=env)
    finally:
        marker.unlink(missing_ok=True)
        _stop(procs)
