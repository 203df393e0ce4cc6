"""A real redis-server for the tests (Debian's, installed by .ci/run when missing)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A redis-server on a free port, with no persistence (it starts empty)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def flush(self) -> None:
        with redis.Redis.from_url(self.url) as client:
            client.flushdb()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class RedisCluster:
    """A real Redis Cluster on loopback: 3 masters with a replica each (Debian's redis-server,
    joined by ``redis-cli --cluster create``), without persistence; ``url`` is the
    ``redis+cluster://`` store address the service takes."""

    MASTERS = 3

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self._choose_ports()

    def _choose_ports(self) -> None:
        self.ports = [_cluster_port() for _ in range(2 * self.MASTERS)]
        self.url = "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def start_node(self, port: int) -> None:
        self.procs[port] = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--cluster-enabled", "yes", "--cluster-config-file",
             str(self.folder / f"nodes-{port}.conf"), "--cluster-node-timeout", "1500",
             "--cluster-replica-validity-factor", "0", "--repl-diskless-sync-delay", "0",
             "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(port)

    def start(self, attempts: int = 3) -> None:
        """Start the nodes and join them. A port found free may be taken by another process
        (the tests start many servers at once) before its node binds it, and the join then
        fails: the cluster is made again on other ports."""
        for _ in range(attempts):
            for port in self.ports:
                self.start_node(port)
            made = subprocess.run([shutil.which("redis-cli") or "redis-cli", "--cluster",
                                   "create", *(f"127.0.0.1:{p}" for p in self.ports),
                                   "--cluster-replicas", "1", "--cluster-yes"],
                                  check=False, capture_output=True, timeout=60)
            if made.returncode == 0:
                self.wait_ok()
                return
            self.stop()
            for conf in self.folder.glob("nodes-*.conf"):
                conf.unlink()
            self._choose_ports()
        raise RuntimeError("redis-cli --cluster create failed on three sets of ports; the "
                           f"last said: {made.stdout.decode(errors='replace')[-2000:]}"
                           f"{made.stderr.decode(errors='replace')[-1000:]}")

    def wait_ok(self, timeout: float = 30, replicas: int = 1) -> None:
        """Until every live node says the cluster is ok, and each master (a node serving
        slots) has ``replicas`` live replicas."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if all(self._state(port) == "ok" for port in self.live_ports()) and \
                        all(len(r) >= replicas for r in self._replicas().values()) and \
                        all(self._synced(port) >= replicas for port in self._replicas()):
                    return
            except redis.RedisError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the cluster did not become ok")

    @staticmethod
    def _synced(port: int) -> int:
        """Replicas of a master that finished their first sync."""
        with redis.Redis(port=port, socket_timeout=1) as node:
            info = node.info("replication")
        return sum(1 for k, v in info.items()
                   if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online")

    @staticmethod
    def _state(port: int) -> str:
        with redis.Redis(port=port, socket_timeout=1) as node:
            return str(node.cluster("info")["cluster_state"])

    def _nodes(self) -> dict[str, dict]:
        with redis.Redis(port=self.live_ports()[0], socket_timeout=1) as node:
            return dict(node.cluster("nodes"))

    def _replicas(self) -> dict[int, list[int]]:
        """Each master's port -> its live replicas' ports."""
        nodes = self._nodes()
        port_of = {info["node_id"]: int(address.split("@")[0].rsplit(":", 1)[1])
                   for address, info in nodes.items()}
        masters = {info["node_id"]: [] for info in nodes.values()
                   if info["slots"] and "fail" not in info["flags"]}
        for info in nodes.values():
            if info["master_id"] in masters and "fail" not in info["flags"]:
                masters[info["master_id"]].append(port_of[info["node_id"]])
        return {port_of[m]: r for m, r in masters.items()}

    def live_ports(self) -> list[int]:
        return [p for p, proc in self.procs.items() if proc.poll() is None]

    def masters(self) -> list[int]:
        return sorted(self._replicas())

    def kill(self, port: int) -> None:
        self.procs[port].kill()
        self.procs[port].wait()

    def flush(self) -> None:
        for port in self.masters():
            with redis.Redis(port=port) as node:
                node.flushall()

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.wait()
        self.procs = {}


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server did not start on port {port}")


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and below 65536 too."""
    while True:
        port = free_port()
        if port > 55000:
            continue
        try:
            with socket.socket() as bus:
                bus.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
