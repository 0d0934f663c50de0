"""A small Chrome DevTools Protocol client over aiohttp's websocket client, to drive Debian's ``chromium``.

``Browser.start(tmp_dir)`` runs ``chromium --headless=new --remote-debugging-port=0`` with a user data dir in
``tmp_dir`` (``--no-sandbox`` as root, where Chromium's sandbox cannot start), reads the port it picked from
``DevToolsActivePort`` and connects to the browser's websocket. ``Browser.new_page()`` opens a tab and attaches
to it (a flat session: one websocket for everything). ``Page`` sends commands and waits for their answers,
keeps every console message, log entry and uncaught exception (``problems``), and can evaluate expressions,
click elements with real mouse events, type text and take screenshots. ``Browser.stop()`` closes the
connection and ends the browser's whole process group (it is started in a session of its own).

``png_pixels``/``pixel_variance`` decode a PNG with the standard library only (zlib + struct), so a test can
tell a rendered page from a blank one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import struct
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any

import aiohttp

START_TIMEOUT = 60.0
COMMAND_TIMEOUT = 60.0


class CdpError(Exception):
    """The browser answered a command with an error, or could not be started."""


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise CdpError("chromium is missing: bash .ci/setup --test installs Debian's chromium package")


class Browser:
    def __init__(self, process: subprocess.Popen[bytes], session: aiohttp.ClientSession,
                 socket: aiohttp.ClientWebSocketResponse, log_path: Path) -> None:
        self.process = process
        self._http = session
        self._socket = socket
        self.log_path = log_path
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._pages: dict[str, Page] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read(), name="cdp-reader")

    @classmethod
    async def start(cls, tmp_dir: Path, width: int = 1280, height: int = 900) -> Browser:
        profile = tmp_dir / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        args = [chromium_path(), "--headless=new", "--remote-debugging-port=0", f"--user-data-dir={profile}",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
                "--disable-dev-shm-usage", "--disable-gpu", "--mute-audio", "--password-store=basic",
                f"--window-size={width},{height}", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")
        log_path = tmp_dir / "chromium.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            port, path = await _active_port(profile / "DevToolsActivePort", process, log_path)
            session = aiohttp.ClientSession()
            try:
                socket = await session.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=256 * 1024 * 1024)
            except BaseException:
                await session.close()
                raise
        except BaseException:
            _stop_group(process)
            raise
        return cls(process, session, socket, log_path)

    async def _read(self) -> None:
        async for message in self._socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
            elif "sessionId" in data and data["sessionId"] in self._pages:
                self._pages[data["sessionId"]].on_event(data["method"], data.get("params", {}))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(CdpError("the browser closed the DevTools connection"))

    async def send(self, method: str, params: dict[str, Any] | None = None, session_id: str | None = None,
                   timeout: float = COMMAND_TIMEOUT) -> dict[str, Any]:
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        await self._socket.send_str(json.dumps(message))
        answer = await asyncio.wait_for(future, timeout)
        if "error" in answer:
            raise CdpError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def new_page(self) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = Page(self, attached["sessionId"])
        self._pages[page.session_id] = page
        for domain in ("Page", "Runtime", "Log"):
            await page.send(f"{domain}.enable")
        return page

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.send("Browser.close"), 5)
        await self._socket.close()
        await self._http.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await asyncio.to_thread(_stop_group, self.process)


class Page:
    def __init__(self, browser: Browser, session_id: str) -> None:
        self.browser = browser
        self.session_id = session_id
        self.problems: list[str] = []
        """Console errors and warnings, log entries at error level, uncaught exceptions."""
        self.console: list[str] = []
        self._loaded = asyncio.Event()

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console.append(f"{params.get('type')}: {text}")
            if params.get("type") in ("error", "warning", "assert"):
                self.problems.append(f"console.{params.get('type')}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exception = details.get("exception", {})
            self.problems.append(f"exception: {exception.get('description') or details.get('text')}")
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") in ("error", "warning"):
                self.problems.append(f"log {entry.get('source')}/{entry.get('level')}: {entry.get('text')} "
                                     f"{entry.get('url', '')}")
        elif method == "Page.loadEventFired":
            self._loaded.set()

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.browser.send(method, params, self.session_id)

    async def navigate(self, url: str) -> None:
        self._loaded.clear()
        result = await self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CdpError(f"navigating to {url}: {result['errorText']}")
        await asyncio.wait_for(self._loaded.wait(), COMMAND_TIMEOUT)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                      "awaitPromise": True})
        if "exceptionDetails" in result:
            raise CdpError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def click(self, selector: str) -> None:
        """A real left click (mouse moved, pressed, released) in the middle of the element."""
        box = await self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            f" e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();"
            f" return [r.x + r.width / 2, r.y + r.height / 2]; }})()")
        if box is None:
            raise CdpError(f"nothing matches {selector}")
        x, y = box
        await self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                         "clickCount": 1})

    async def type_into(self, selector: str, text: str) -> None:
        """Focuses the element, selects what it holds and types ``text`` over it (as a keyboard would)."""
        await self.click(selector)
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).select()")
        await self.send("Input.insertText", {"text": text})

    async def screenshot(self, scale: float = 1.0) -> bytes:
        """A PNG of the viewport (``scale`` < 1 makes it smaller, and quicker to decode in pure Python)."""
        size = await self.evaluate("[window.innerWidth, window.innerHeight]")
        clip = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": scale}
        result = await self.send("Page.captureScreenshot", {"format": "png", "clip": clip})
        return base64.b64decode(result["data"])


async def _active_port(path: Path, process: subprocess.Popen[bytes], log_path: Path) -> tuple[int, str]:
    """The port and browser websocket path Chromium writes to ``DevToolsActivePort`` once it listens."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CdpError(f"chromium exited with {process.returncode}: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            lines = path.read_text().split()
        except FileNotFoundError:
            lines = []
        if len(lines) >= 2:
            return int(lines[0]), lines[1]
        await asyncio.sleep(0.05)
    raise CdpError(f"chromium did not open its DevTools port within {START_TIMEOUT} s")


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Ends the browser and every process it started (its own session and process group)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # helpers still alive after the main process ended
        os.killpg(process.pid, signal.SIGKILL)


# -- PNG, standard library only -------------------------------------------------------------------------------
def png_pixels(data: bytes) -> tuple[int, int, int, bytes]:
    """``(width, height, channels, raw pixel bytes)`` of an 8-bit RGB or RGBA, non-interlaced PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    offset, idat, header = 8, bytearray(), None
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        chunk = data[offset + 8:offset + 8 + length]
        offset += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, color, _, _, interlace = header
    channels = {2: 3, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace != 0:
        raise ValueError(f"unsupported PNG: depth {depth}, color type {color}, interlace {interlace}")
    raw = zlib.decompress(bytes(idat))
    stride = width * channels
    out = bytearray(stride * height)
    previous = bytearray(stride)
    position = 0
    for row in range(height):
        kind = raw[position]
        line = bytearray(raw[position + 1:position + 1 + stride])
        position += 1 + stride
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + predictor) & 0xFF
        out[row * stride:(row + 1) * stride] = line
        previous = line
    return width, height, channels, bytes(out)


def pixel_variance(data: bytes) -> tuple[float, int]:
    """The variance of the pixels' luminance and the number of distinct colours in a PNG screenshot."""
    width, height, channels, pixels = png_pixels(data)
    total = total_sq = 0.0
    colours: set[bytes] = set()
    count = width * height
    for i in range(0, len(pixels), channels):
        r, g, b = pixels[i], pixels[i + 1], pixels[i + 2]
        luminance = 0.299 * r + 0.587 * g + 0.114 * b
        total += luminance
        total_sq += luminance * luminance
        if len(colours) < 4096:
            colours.add(pixels[i:i + 3])
    mean = total / count
    return total_sq / count - mean * mean, len(colours)
