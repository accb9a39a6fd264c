"""Install, start and stop the real ComfyUI the tests and the benchmark use."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def install(cache: Path) -> Path:
    """Run setup_comfyui.sh (idempotent) and return the ComfyUI home under ``cache``."""
    setup = ROOT / "tests" / "comfyui" / "setup_comfyui.sh"
    try:
        done = subprocess.run(["bash", str(setup), str(cache)], capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"setup did not finish ({exc})") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise RuntimeError(f"setup failed: {last}")
    return cache / "comfyui"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """Stop it by its PID: SIGTERM to its process group, SIGKILL after 20 s."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start(home: Path, work: Path, *, threads: int = 2, timeout: float = 180.0) -> Server:
    """``main.py --cpu`` on a free port of 127.0.0.1, its folders under ``work``; returns once it answers."""
    for sub in ("output", "input", "temp", "user"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    log = work / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(home / "venv" / "bin" / "python"), "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
             "--disable-auto-launch", "--extra-model-paths-config", str(home / "extra_model_paths.yaml"),
             "--output-directory", str(work / "output"), "--input-directory", str(work / "input"),
             "--temp-directory", str(work / "temp"), "--user-directory", str(work / "user"),
             "--database-url", "sqlite:///:memory:"],
            cwd=home / "ComfyUI", env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}: {log.read_text(errors='replace')[-800:]}")
        try:
            if httpx.get(f"{server.url}/system_stats", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"the server did not answer within {timeout:.0f} s")
        time.sleep(0.5)
