"""Text from elsewhere made safe to print on a terminal.

A server's error message is printed on the reporter's terminal. Terminals act on more
than colours: OSC sequences set the window title, write the clipboard or draw links,
DCS and APC reach the emulator itself, and C1 bytes are the same introducers in one
character. Every ECMA-48 control sequence is removed whole (not only its introducer, so
no payload is left as junk), then any control character that is left.
"""

from __future__ import annotations

import re

_ESC = "\x1b"
# Introducers: 7-bit (ESC + a letter) or their 8-bit C1 twins.
_STRING = rf"(?:{_ESC}[\]PX^_]|[\x90\x98\x9d\x9e\x9f])"  # OSC, DCS, SOS, PM, APC
_STRING_END = rf"(?:\x07|{_ESC}\\|\x9c)"  # BEL (xterm's OSC end) or ST
_CSI = rf"(?:{_ESC}\[|\x9b)"
_SEQUENCE = re.compile(
    rf"{_STRING}.*?(?:{_STRING_END}|$)"  # a string command, to its end (or the text's)
    rf"|{_CSI}[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"  # CSI: parameters, intermediates, final
    rf"|{_ESC}[\x20-\x2f]*[\x30-\x7e]?",  # any other escape sequence (ESC c, ESC ( B…)
    re.DOTALL,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` without control sequences or control characters; whitespace controls
    (tab, newline) become one space, so the result stays on one line."""
    text = _SEQUENCE.sub("", text)
    text = re.sub(r"[\t\n\r\v\f]+", " ", text)
    return _CONTROL.sub("", text)
