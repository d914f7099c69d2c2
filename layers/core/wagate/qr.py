"""Renders a QR text as PNG, SVG, a data URL or terminal text (for dashboards, CRMs and headless servers)."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Literal

QrFormat = Literal["png", "svg", "data_url", "terminal"]
_BORDER = 4  # quiet zone in modules: phones scan unreliably without it


def matrix(text: str) -> list[list[bool]]:
    # Imported here: only the QR routes need it, and every API cold start would pay for it.
    import qrcode
    import qrcode.constants

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, border=_BORDER)
    code.add_data(text)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


def png(text: str, *, scale: int = 8) -> bytes:
    """A 1-bit grayscale PNG written directly (no imaging library needed)."""
    cells = matrix(text)
    size = len(cells) * scale
    rows = bytearray()
    for row in cells:
        bits = bytearray()
        for dark in row:
            bits.extend([0 if dark else 1] * scale)
        packed = bytearray()
        for i in range(0, len(bits), 8):
            byte = 0
            for j, bit in enumerate(bits[i : i + 8]):
                byte |= bit << (7 - j)
            packed.append(byte)
        for _ in range(scale):
            rows.append(0)  # filter type: none
            rows.extend(packed)
    header = struct.pack(">IIBBBBB", size, size, 1, 0, 0, 0, 0)  # 1-bit grayscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _chunk(b"IEND", b"")
    )


def svg(text: str, *, scale: int = 8) -> str:
    cells = matrix(text)
    size = len(cells) * scale
    path = "".join(
        f"M{x * scale},{y * scale}h{scale}v{scale}h-{scale}z"
        for y, row in enumerate(cells)
        for x, dark in enumerate(row)
        if dark
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}">'
        f'<rect width="100%" height="100%" fill="#fff"/><path d="{path}" fill="#000"/></svg>'
    )


def data_url(text: str) -> str:
    return "data:image/png;base64," + base64.b64encode(png(text)).decode()


def terminal(text: str) -> str:
    """Two QR rows per line with half blocks, dark on a light terminal and light on a dark one alike."""
    cells = matrix(text)
    if len(cells) % 2:
        cells.append([False] * len(cells[0]))
    glyphs = {(False, False): "█", (True, False): "▄", (False, True): "▀", (True, True): " "}
    lines = [
        "".join(glyphs[(top, bottom)] for top, bottom in zip(cells[y], cells[y + 1], strict=True))
        for y in range(0, len(cells), 2)
    ]
    return "\n".join(lines) + "\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )
