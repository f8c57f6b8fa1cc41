"""Trim what PyInstaller's hooks collect wholesale but the workstation never loads.

The spec (packaging/workstation.spec) calls :func:`prune` on the Analysis' binaries and
data files. Dropping a Qt plugin (say the GTK3 platform theme) is not enough on its own:
PyInstaller has already bundled the system libraries that plugin links to (GTK, cairo,
pango, ...). :func:`prune` therefore also drops every shared library that only dropped
binaries needed, following the ELF ``DT_NEEDED`` entries. It never touches a library that
was not needed by something dropped, so libraries loaded by name at run time (dlopen,
ctypes, the bootloader's libpython) are safe.

Plain Python with no PyInstaller import, so it is unit-tested without a build.
"""

from __future__ import annotations

import posixpath
import re
import struct
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

# An Analysis TOC entry: (destination in the bundle, source path or symlink target, typecode)
Entry = tuple[str, str, str]

SHT_DYNAMIC = 6
DT_NEEDED = 1


def elf_needed(path: str) -> list[str]:
    """The ``DT_NEEDED`` sonames of an ELF shared object or executable; [] for anything else
    (a Windows DLL, a macOS dylib, a data file, an unreadable or malformed file)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    try:
        return _parse_needed(data)
    except (struct.error, IndexError, ValueError):
        return []


def _parse_needed(data: bytes) -> list[str]:
    if data[:4] != b"\x7fELF":
        return []
    is64 = data[4] == 2
    endian = "<" if data[5] == 1 else ">"
    if is64:
        (shoff,) = struct.unpack_from(endian + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(endian + "HH", data, 0x3A)
        sh_fmt, dyn_fmt = endian + "IIQQQQIIQQ", endian + "qQ"
    else:
        (shoff,) = struct.unpack_from(endian + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(endian + "HH", data, 0x2E)
        sh_fmt, dyn_fmt = endian + "IIIIIIIIII", endian + "iI"
    sections = [struct.unpack_from(sh_fmt, data, shoff + i * shentsize) for i in range(shnum)]
    needed: list[str] = []
    dyn_size = struct.calcsize(dyn_fmt)
    for sh in sections:
        if sh[1] != SHT_DYNAMIC:
            continue
        offset, size, link = sh[4], sh[5], sh[6]
        strtab_offset = sections[link][4]
        for pos in range(offset, offset + size - dyn_size + 1, dyn_size):
            tag, value = struct.unpack_from(dyn_fmt, data, pos)
            if tag == 0:  # DT_NULL ends the table
                break
            if tag == DT_NEEDED:
                start = strtab_offset + value
                end = data.index(b"\0", start)
                needed.append(data[start:end].decode("utf-8", "replace"))
    return needed


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _name(dest: str) -> str:
    return PurePosixPath(dest.replace("\\", "/")).name


def prune(
    binaries: Iterable[Entry],
    datas: Iterable[Entry],
    drop_binary: Callable[[str], bool],
    drop_data: Callable[[str], bool],
    needed: Callable[[str], list[str]] = elf_needed,
) -> tuple[list[Entry], list[Entry], list[str]]:
    """``(binaries, datas, dropped)``: the entries kept, and the destinations dropped.

    ``drop_binary(dest)`` / ``drop_data(dest)`` choose what to drop (``dest`` uses ``/``);
    the shared libraries needed only by dropped binaries go too, and so do the bundle's
    symlinks (typecode ``SYMLINK``) pointing at a dropped file. A binary that a kept one
    still needs is kept whatever ``drop_binary`` says.
    """
    binaries, datas = list(binaries), list(datas)
    by_name: dict[str, list[Entry]] = {}
    for e in binaries:
        by_name.setdefault(_name(e[0]), []).append(e)
    deps: dict[str, list[str]] = {}

    def needs(e: Entry) -> list[str]:
        if e[0] not in deps:
            deps[e[0]] = needed(e[1]) if e[2] != "SYMLINK" else []
        return deps[e[0]]

    def closure(roots: Iterable[Entry]) -> set[str]:
        """Destinations of ``roots`` and of every bundled library they need, transitively."""
        seen: set[str] = set()
        todo = list(roots)
        while todo:
            e = todo.pop()
            if e[0] in seen:
                continue
            seen.add(e[0])
            for soname in needs(e):
                todo.extend(by_name.get(soname, []))
        return seen

    roots = [e for e in binaries if e[2] != "SYMLINK" and drop_binary(e[0].replace("\\", "/"))]
    candidates = closure(roots)
    # What the rest of the bundle needs stays, even if a rule named it: a wrong rule must
    # not break a library that is in use.
    still_needed = closure(e for e in binaries if e[0] not in candidates)
    gone = candidates - still_needed

    def keep(e: Entry, is_data: bool) -> bool:
        dest = e[0].replace("\\", "/")
        if e[2] == "SYMLINK":  # e[1] is the link's target, relative to the link's folder
            target = posixpath.normpath(
                posixpath.join(posixpath.dirname(dest), e[1].replace("\\", "/"))
            )
            return target not in gone_paths
        return e[0] not in gone and not (is_data and drop_data(dest))

    gone_paths = {g.replace("\\", "/") for g in gone}
    kept_binaries = [e for e in binaries if keep(e, False)]
    kept_datas = [e for e in datas if keep(e, True)]
    kept = {e[0] for e in kept_binaries} | {e[0] for e in kept_datas}
    dropped_all = {e[0] for e in binaries} | {e[0] for e in datas}
    return kept_binaries, kept_datas, sorted(dropped_all - kept)


def matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """A predicate true for a destination matching any of the regular expressions."""
    compiled = re.compile("|".join(f"(?:{p})" for p in patterns))
    return lambda dest: compiled.search(dest) is not None


def strip_debug(
    binaries: Iterable[Entry], wanted: Callable[[str], bool], workdir: str
) -> list[Entry]:
    """``binaries`` with the debug information removed from the ELF files ``wanted(dest)``
    selects: each is copied into ``workdir`` and ``strip --strip-debug`` runs on the copy.

    Only for libraries known to carry debug info and never rewritten by patchelf (the
    interpreter's libpython: 23 MB of which 17 MB is debug info). Stripping every binary,
    PyInstaller's ``strip=True``, can corrupt the patchelf-repaired libraries of wheels
    (numpy.libs, pyarrow). Without a ``strip`` program the entries are returned as they are.
    """
    import shutil
    import subprocess

    tool = shutil.which("strip")
    out: list[Entry] = []
    for dest, src, kind in binaries:
        if tool and kind == "BINARY" and wanted(dest.replace("\\", "/")) and _is_elf(src):
            copy = Path(workdir) / "stripped" / PurePosixPath(dest.replace("\\", "/"))
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, copy)
            done = subprocess.run([tool, "--strip-debug", str(copy)], check=False)
            if done.returncode == 0:
                out.append((dest, str(copy), kind))
                continue
        out.append((dest, src, kind))
    return out
