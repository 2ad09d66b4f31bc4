"""LiteRT.js in a headless Chromium page, served by litesig on 127.0.0.1 (for `verify --on web-gpu`).

The page (litertjs_node/page.html, page.mjs) loads @litertjs/core from the runtime cache's
node_modules through an import map, compiles /model.tflite, and then fetches requests from /job
and posts answers to /answer, the same JSON as the Node runner (wire.mjs). Nothing but this
process's own files is served, and only to 127.0.0.1. WebGPU without a GPU runs on Chromium's
SwiftShader (`--use-webgpu-adapter=swiftshader`), with the JSPI build of LiteRT.js so ops WebGPU
lacks can fall back to the CPU.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .compiled import RuntimeUnavailable

_TYPES = {".html": "text/html", ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
          ".json": "application/json", ".tflite": "application/octet-stream"}
PAGE_FILES = ("page.html", "page.mjs", "wire.mjs")  # litesig's own runner page, in litertjs_node/


def chromium() -> str:
    """The Chromium (or Chrome) executable: $LITESIG_CHROMIUM, else the first on PATH.

    Raises:
        RuntimeUnavailable: none is installed.
    """
    wanted = os.environ.get("LITESIG_CHROMIUM")
    for name in ([wanted] if wanted else ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]):
        exe = shutil.which(name)
        if exe:
            return exe
    raise RuntimeUnavailable("cannot run on web-gpu: LiteRT.js's WebGPU runs in a browser and no Chromium is installed "
                             "(Debian: apt-get install chromium; or set LITESIG_CHROMIUM to a Chrome executable)")


class Page:
    """One Chromium page; `send` a request (GET /job), `receive` what the page POSTs to /answer.

    Args:
        folder: a private folder for Chromium's profile and log.
        modules: node_modules served under /modules/ (the page's import map points there).
        served: {url path: file} for everything else, e.g. {"/page.html": ..., "/model.tflite": ...}.
        hello: what GET /hello answers (JSON).
        start: the page Chromium opens.
    """

    def __init__(self, folder: Path, modules: Path, served: dict[str, Path], hello: dict[str, Any], start: str = "/page.html"):
        self._jobs: queue.Queue[dict[str, Any]] = queue.Queue()
        self._answers: queue.Queue[dict[str, Any]] = queue.Queue()
        greeting = json.dumps(hello).encode()
        jobs, answers, root = self._jobs, self._answers, modules.resolve()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet: the page's traffic is not the user's business
                pass

            def _send(self, body: bytes, kind: str, status: int = 200) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = self.path.split("?", 1)[0]
                if path == "/hello":
                    return self._send(greeting, _TYPES[".json"])
                if path == "/job":
                    return self._send(json.dumps(jobs.get()).encode(), _TYPES[".json"])
                if path in served:
                    file = served[path]
                elif path.startswith("/modules/"):
                    file = (root / path.removeprefix("/modules/")).resolve()
                    if not file.is_relative_to(root):  # nothing outside node_modules
                        return self._send(b"", "text/plain", 404)
                else:
                    return self._send(b"", "text/plain", 404)
                if not file.is_file():
                    return self._send(b"", "text/plain", 404)
                self._send(file.read_bytes(), _TYPES.get(file.suffix, "application/octet-stream"))

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                answers.put(json.loads(self.rfile.read(length) or b"{}"))
                self._send(b"{}", _TYPES[".json"])

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        port = self._server.server_address[1]
        self._log = open(folder / "chromium.txt", "w+")  # noqa: SIM115 (closed in close())
        flags = ["--headless=new", "--no-sandbox", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                 f"--user-data-dir={folder / 'profile'}", "--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader",
                 "--enable-features=Vulkan,WebAssemblyJSPromiseIntegration", "--remote-debugging-port=0"]
        try:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                [chromium(), *flags, f"http://127.0.0.1:{port}{start}"], stdin=subprocess.DEVNULL,
                stdout=self._log, stderr=self._log, start_new_session=True)
        except BaseException:
            self._server.shutdown()
            self._server.server_close()
            self._log.close()
            raise

    def send(self, request: dict[str, Any]) -> None:
        self._jobs.put(request)

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The page's next answer; None if none comes within `timeout` seconds; an error if Chromium stopped."""
        import time

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                return self._answers.get(timeout=min(0.5, max(0.01, end - time.monotonic())))
            except queue.Empty:
                if self._proc is not None and self._proc.poll() is not None:
                    self._log.flush()
                    self._log.seek(0)
                    tail = [ln for ln in self._log.read().splitlines() if ln.strip()][-1:]
                    raise RuntimeUnavailable(f"Chromium stopped (exit {self._proc.returncode}): {tail[0][:300] if tail else ''}") from None
        return None

    def close(self) -> None:
        if self._proc is not None:
            self._jobs.put({"stop": True})
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        self._server.shutdown()
        self._server.server_close()
        self._log.close()
