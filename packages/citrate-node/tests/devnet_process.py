"""Run `citrate devnet` as a real process for tests, and talk raw HTTP JSON-RPC to it."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

CITRATE = str(Path(sys.executable).with_name("citrate"))
_LISTENING = re.compile(r"Listening on http://(\S+):(\d+)")
_IPFS = re.compile(r"Content store \(IPFS API\): http://(\S+):(\d+)/api/v0")


class Devnet:
    """A `citrate devnet` subprocess on a free loopback port."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.args = args
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.ipfs_port: int | None = None
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._pumps: list[threading.Thread] = []

    def start(self, timeout: float = 60.0) -> Devnet:
        cmd = [
            CITRATE,
            "devnet",
            "--data-dir",
            str(self.data_dir),
            "--port",
            "0",
            "--ipfs-port",
            "0",
            *self.args,
        ]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(self.env or {})},
        )
        found = threading.Event()

        def pump_stdout() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.stdout.append(line)
                ipfs = _IPFS.search(line)
                if ipfs:
                    self.ipfs_port = int(ipfs.group(2))
                m = _LISTENING.search(line)
                if m:
                    self.port = int(m.group(2))
                    found.set()

        def pump_stderr() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                self.stderr.append(line)

        self._pumps = [
            threading.Thread(target=pump_stdout, daemon=True),
            threading.Thread(target=pump_stderr, daemon=True),
        ]
        for pump in self._pumps:
            pump.start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"citrate devnet did not start (exit {self.proc.returncode}):\n"
                    + "".join(self.stderr[-40:])
                )
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pump in self._pumps:
            pump.join(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return self.proc.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def __enter__(self) -> Devnet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- raw HTTP ----------------------------------------------------------------------------

    def post(
        self, body: bytes | str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            hdrs = {"Content-Type": "application/json", **(headers or {})}
            conn.request("POST", "/", body=body, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def rpc_raw(self, method: str, params: list[Any] | None = None) -> dict[str, Any]:
        payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
        status, _, body = self.post(json.dumps(payload))
        assert status == 200, body
        reply: dict[str, Any] = json.loads(body)
        return reply

    def rpc(self, method: str, *params: Any) -> Any:
        reply = self.rpc_raw(method, list(params))
        if "error" in reply:
            raise AssertionError(f"{method} failed: {reply['error']}")
        return reply["result"]
