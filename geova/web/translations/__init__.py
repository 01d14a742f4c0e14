"""French and English catalogues (English is the source language; French in fr/LC_MESSAGES).

``compile_catalogues`` turns the .po files into the .mo files Flask-Babel reads; ``make install``
runs it, and so does the test suite, so a fresh clone never serves untranslated pages.
"""

from __future__ import annotations

import os
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

HERE = Path(__file__).parent


def compile_catalogues() -> list[Path]:
    written = []
    for po in HERE.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as fh:
            catalogue = read_po(fh, locale=po.parent.parent.name)
        # written aside then renamed: parallel test workers (pytest -n) may compile at once, and a
        # reader must never see half a catalogue
        part = mo.with_suffix(f".mo.{os.getpid()}")
        with part.open("wb") as fh:
            write_mo(fh, catalogue)
        os.replace(part, mo)
        written.append(mo)
    return written
