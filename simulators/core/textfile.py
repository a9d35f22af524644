"""Reading the text files users hand to simulators (graphs, traces): UTF-8 only, errors naming file and line."""

from __future__ import annotations

from pathlib import Path


def read_utf8(path: Path, what: str = "file") -> str:
    """The text of `path`; a byte that is not UTF-8 raises a ValueError naming the file, the line and the byte."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        byte = data[err.start]
        raise ValueError(f"{path}:{line}: not UTF-8 text (byte 0x{byte:02x}); save the {what} as UTF-8") from None
