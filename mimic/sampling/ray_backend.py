"""Sampler workers as Ray actors: Ray places and supervises them, TCP carries the steps.

Optional (``pip install -e .[distributed]``); only imported for ``backend="ray"``.

* ``ray_address=None``: start a local Ray instance (shut down again by ``shutdown()``);
  ``"auto"`` or ``"HOST:PORT"``: join a running cluster (``ray start --head`` on one machine,
  ``ray start --address=HEAD:6379`` on the others); actors (1 CPU each) spread over its nodes.
* Every worker is an :class:`EnvActor` whose one long call connects back to the learner
  (``multiprocessing.connection`` over TCP, authenticated with a random per-sampler key,
  TCP_NODELAY), says HELLO with its token, and runs the same :func:`mimic.sampling.worker.serve`
  loop as a local worker process: the same messages, so a deterministic round costs one small TCP
  round trip per worker instead of a Ray task submission + object fetch (~1-3 ms each).
  Network: worker nodes must reach the learner's node on an ephemeral TCP port (the learner
  listens on all interfaces; it advertises Ray's node IP of the learner).
* Every node needs the same mimic install (``pip install -e .``) and the motion / character
  files at the same paths: actors import ``mimic.sampling`` (no torch) and build their envs from
  (EnvSpec, kwargs) there.  OMP/MKL threads = 1.
* Faults: an actor process that dies closes its socket (EOF here -> restart); a node that
  vanishes or an actor that hangs hits the worker timeout; both are ``ray.kill``-ed and replaced.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from multiprocessing.connection import Client, Listener
from typing import Optional

from mimic.sampling import protocol as P
from mimic.sampling import worker
from mimic.sampling.transport import StreamBackend, StreamWorker, WorkerFailure, set_nodelay


def _import_ray():
    try:
        import ray
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("backend='ray' needs Ray: pip install -e .[distributed]  (ray[default]>=2.9)") from e
    return ray


class EnvActor:
    """The Ray actor (wrapped with ``ray.remote`` by :class:`RayBackend`)."""

    def serve_socket(
        self, address, authkey: bytes, token: str, env_id, env_kwargs, num_envs, worker_seed, groups=1
    ) -> str:
        os.environ.update(worker.THREAD_ENV)
        conn = Client(tuple(address), family="AF_INET", authkey=authkey)
        set_nodelay(conn)
        conn.send_bytes(P.encode_hello(token))
        worker.serve(conn, env_id, env_kwargs, num_envs, worker_seed, groups)
        return "closed"


class RayWorker(StreamWorker):
    def __init__(self, backend: "RayBackend", index: int, worker_seed: int):
        super().__init__(index)
        self.b, self.worker_seed = backend, worker_seed
        self.actor = self.run_ref = None
        self.token = None

    def start(self) -> None:
        b = self.b
        self.token = uuid.uuid4().hex
        self.actor = b.actor_cls.options(num_cpus=1, max_restarts=0, max_task_retries=0).remote()
        self.run_ref = self.actor.serve_socket.remote(
            b.address, b.authkey, self.token, b.spec, b.env_kwargs, b.num_envs, self.worker_seed, b.groups
        )
        self.conn, self.info, self.fresh, self.started_at = None, None, True, time.monotonic()

    def exit_info(self) -> str:
        if self.run_ref is None:
            return "no actor"
        ray = self.b.ray
        done, _ = ray.wait([self.run_ref], timeout=2.0)
        if not done:
            return "actor still running"
        try:
            return f"actor returned {ray.get(self.run_ref)!r}"
        except Exception as e:
            return f"{type(e).__name__}: {str(e).strip().splitlines()[0]}"

    def poll_ready(self, timeout: float = 0.0) -> bool:
        if self.info is not None:
            return True
        t_end = time.monotonic() + timeout
        while self.conn is None:  # the actor has not connected back yet
            conn = self.b.take(self.token)
            if conn is not None:
                self.attach(conn)
                break
            done, _ = self.b.ray.wait([self.run_ref], timeout=0)
            if done:  # the call ended before connecting
                raise WorkerFailure(f"failed to start: {self.exit_info()}")
            if time.monotonic() >= t_end:
                return False
            time.sleep(min(0.01, max(0.0, t_end - time.monotonic())))
        return self.handshake(max(0.0, t_end - time.monotonic()))

    def kill(self) -> None:
        if self.actor is not None:
            try:
                self.b.ray.kill(self.actor, no_restart=True)
            except Exception:
                pass
        if self.conn is not None:
            self.conn.close()
        self.actor = self.conn = None

    def close(self, timeout: float = 2.0) -> None:
        if self.conn is not None:
            try:
                self.conn.send_bytes(P.encode_quit())
            except Exception:
                pass
        self.kill()


class RayBackend(StreamBackend):
    name = "ray"

    def __init__(
        self, spec, env_kwargs: dict, num_envs: Optional[int], groups: int = 1, ray_address: Optional[str] = None
    ):
        super().__init__()
        ray = self.ray = _import_ray()
        self.spec, self.env_kwargs, self.num_envs, self.groups = spec, env_kwargs, num_envs, groups
        self.started_ray = False
        if not ray.is_initialized():
            kw = dict(ignore_reinit_error=True, log_to_driver=True, runtime_env={"env_vars": dict(worker.THREAD_ENV)})
            if ray_address:
                ray.init(address=ray_address, **kw)
            else:
                ray.init(include_dashboard=False, **kw)
                self.started_ray = True
        self.actor_cls = ray.remote(EnvActor)  # pickled by reference: actors import mimic.sampling
        # actors connect back here; one accept thread files connections under their token
        self.authkey = os.urandom(32)
        self.listener = Listener(("0.0.0.0", 0), family="AF_INET", authkey=self.authkey)
        self.address = (ray.util.get_node_ip_address(), self.listener.address[1])
        self._inbox: dict[str, object] = {}
        self._lock = threading.Lock()
        self._closing = False
        self._thread = threading.Thread(target=self._accept_loop, name="mimic-sampler-accept", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closing:
            try:
                conn = self.listener.accept()  # authenticates (HMAC challenge)
            except Exception:
                if self._closing:
                    return
                continue
            try:
                if not conn.poll(30):
                    raise EOFError("no hello")
                token = P.decode_hello(conn.recv_bytes())
            except Exception:
                conn.close()
                continue
            set_nodelay(conn)
            with self._lock:
                self._inbox[token] = conn

    def take(self, token: str):
        with self._lock:
            return self._inbox.pop(token, None)

    def make(self, index: int, worker_seed: int) -> RayWorker:
        return RayWorker(self, index, worker_seed)

    def shutdown(self) -> None:
        self._closing = True
        try:  # wake the accept thread (close alone does not)
            socket.create_connection(("127.0.0.1", self.address[1]), timeout=1.0).close()
        except OSError:
            pass
        self._thread.join(2.0)
        try:
            self.listener.close()
        except Exception:
            pass
        with self._lock:
            for c in self._inbox.values():
                c.close()
            self._inbox.clear()
        if self.started_ray and self.ray.is_initialized():
            self.ray.shutdown()
