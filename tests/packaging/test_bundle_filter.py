"""packaging/bundle_filter.py: what the spec leaves out of the bundle (no build needed)."""

from __future__ import annotations

import _sqlite3
import shutil
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.packaging.support import PACKAGING, load

bf = load("bundle_filter")

# A fake bundle: (dest, src, typecode); the fake `needed` maps src -> DT_NEEDED sonames.
NEEDS = {
    "/src/libqgtk3.so": ["libgtk-3.so.0", "libglib-2.0.so.0", "libQt6Gui.so.6"],
    "/src/libgtk-3.so.0": ["libcairo.so.2", "libglib-2.0.so.0"],
    "/src/libcairo.so.2": ["libpixman-1.so.0"],
    "/src/libpixman-1.so.0": [],
    "/src/libglib-2.0.so.0": ["libpcre2-8.so.0"],
    "/src/libpcre2-8.so.0": [],
    "/src/libQt6Gui.so.6": ["libglib-2.0.so.0"],
    "/src/libqxcb.so": ["libQt6Gui.so.6"],
    "/src/libarrow_s3.so.2600": [],
    "/src/_s3fs.so": ["libarrow_s3.so.2600"],
    "/src/libpython3.11.so.1.0": [],
    "/src/libdlopened.so.1": [],
}
BINARIES = [
    ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", "/src/libqgtk3.so", "BINARY"),
    ("PySide6/Qt/plugins/platforms/libqxcb.so", "/src/libqxcb.so", "BINARY"),
    ("PySide6/Qt/lib/libQt6Gui.so.6", "/src/libQt6Gui.so.6", "BINARY"),
    ("libgtk-3.so.0", "/src/libgtk-3.so.0", "BINARY"),
    ("libcairo.so.2", "/src/libcairo.so.2", "BINARY"),
    ("libpixman-1.so.0", "/src/libpixman-1.so.0", "BINARY"),
    ("libglib-2.0.so.0", "/src/libglib-2.0.so.0", "BINARY"),
    ("libpcre2-8.so.0", "/src/libpcre2-8.so.0", "BINARY"),
    ("pyarrow/libarrow_s3.so.2600", "/src/libarrow_s3.so.2600", "BINARY"),
    ("pyarrow/_s3fs.so", "/src/_s3fs.so", "EXTENSION"),
    ("libpython3.11.so.1.0", "/src/libpython3.11.so.1.0", "BINARY"),
    ("libdlopened.so.1", "/src/libdlopened.so.1", "BINARY"),
]
DATAS = [
    ("config/app.yaml", "/repo/config/app.yaml", "DATA"),
    ("PySide6/Qt/translations/qtbase_de.qm", "/src/qtbase_de.qm", "DATA"),
    ("pyarrow/include/arrow/api.h", "/src/api.h", "DATA"),
    ("libQt6Gui.so.6", "PySide6/Qt/lib/libQt6Gui.so.6", "SYMLINK"),
    ("libarrow_s3.so.2600", "pyarrow/libarrow_s3.so.2600", "SYMLINK"),
    ("PySide6/Qt/lib/libgtk.so", "../../../libgtk-3.so.0", "SYMLINK"),
]


def run_prune(drop: list[str]) -> tuple[set[str], set[str], list[str]]:
    bins, datas, dropped = bf.prune(
        BINARIES,
        DATAS,
        bf.matcher(drop),
        bf.matcher([r"^PySide6/Qt/translations/", r"\.h$"]),
        needed=lambda src: NEEDS[src],
    )
    return {e[0] for e in bins}, {e[0] for e in datas}, dropped


def test_dropping_a_plugin_takes_what_only_it_needed() -> None:
    bins, datas, dropped = run_prune([r"platformthemes/libqgtk3\.so$"])
    # gtk and what only gtk needed go; glib stays: Qt's own library needs it
    assert dropped == sorted(
        [
            "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
            "libgtk-3.so.0",
            "libcairo.so.2",
            "libpixman-1.so.0",
            "PySide6/Qt/translations/qtbase_de.qm",
            "pyarrow/include/arrow/api.h",
            "PySide6/Qt/lib/libgtk.so",  # a symlink to the dropped gtk
        ]
    )
    assert {"libglib-2.0.so.0", "libpcre2-8.so.0", "PySide6/Qt/lib/libQt6Gui.so.6"} <= bins
    # libraries nothing drops stay, even if nothing links to them (dlopen, the bootloader)
    assert {"libpython3.11.so.1.0", "libdlopened.so.1"} <= bins
    assert datas == {"config/app.yaml", "libQt6Gui.so.6", "libarrow_s3.so.2600"}


def test_a_library_still_needed_by_a_kept_binary_stays_whatever_the_rule() -> None:
    # the rule names libarrow_s3, but the _s3fs extension (kept) links to it
    bins, datas, _ = run_prune([r"^pyarrow/libarrow_s3"])
    assert "pyarrow/libarrow_s3.so.2600" in bins
    assert "libarrow_s3.so.2600" in datas
    # dropping the extension too lets the library and its symlink go
    bins, datas, dropped = run_prune([r"^pyarrow/libarrow_s3", r"^pyarrow/_s3fs"])
    assert "pyarrow/libarrow_s3.so.2600" not in bins and "pyarrow/_s3fs.so" not in bins
    assert "libarrow_s3.so.2600" not in datas
    assert "libarrow_s3.so.2600" in dropped


def test_no_rule_drops_only_matching_data() -> None:
    bins, _, dropped = run_prune([r"^nothing$"])
    assert bins == {e[0] for e in BINARIES}
    assert dropped == ["PySide6/Qt/translations/qtbase_de.qm", "pyarrow/include/arrow/api.h"]


@pytest.mark.parametrize(
    ("dest", "expected"),
    [
        ("pyarrow/libarrow_flight.so.2600", True),
        ("pyarrow/libarrow_python_flight.so.2600", True),
        ("pyarrow/libarrow_python.so", True),
        ("pyarrow/libarrow_python.so.2600.1.0", True),
        ("pyarrow/libarrow_python.so.2600", False),
        ("pyarrow/lib.cpython-311-x86_64-linux-gnu.so", False),
        ("PySide6/Qt/plugins/platforms/libqeglfs.so", True),
        ("PySide6/Qt/plugins/platforms/libqxcb.so", False),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", False),
        ("PySide6/Qt/plugins/platforms/libqminimal.so", False),
        ("PySide6/Qt/plugins/platforms/libqminimalegl.so", True),
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", True),
        ("PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so", False),
    ],
    ids=lambda v: str(v),
)
def test_the_specs_binary_rules(dest: str, expected: bool) -> None:
    """The rules written in packaging/workstation.spec, read from the spec itself."""
    assert spec_binary_rule()(dest) is expected


def spec_binary_rule() -> Callable[[str], bool]:
    import ast

    tree = ast.parse((PACKAGING / "workstation.spec").read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "DROP_BINARIES"
        ):
            call = node.value
            assert isinstance(call, ast.Call)
            return bf.matcher(ast.literal_eval(call.args[0]))
    raise AssertionError("DROP_BINARIES not found in workstation.spec")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF files are Linux's")
def test_elf_needed_reads_a_real_extension_module() -> None:
    needed = bf.elf_needed(_sqlite3.__file__)
    assert "libsqlite3.so.0" in needed
    assert "libc.so.6" in needed or any(n.startswith("libc.") for n in needed)


def test_elf_needed_is_empty_for_other_files(tmp_path: Path) -> None:
    text = tmp_path / "a.txt"
    text.write_text("not an ELF file")
    truncated = tmp_path / "b.so"
    truncated.write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 20)  # header cut short
    bogus = tmp_path / "c.so"
    # a 64-bit header whose section table points far beyond the end of the file
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", header, 0x28, 10**6)
    struct.pack_into("<HH", header, 0x3A, 64, 3)
    bogus.write_bytes(bytes(header))
    for path in (text, truncated, bogus, tmp_path / "missing.so"):
        assert bf.elf_needed(str(path)) == [], path.name


@pytest.mark.skipif(shutil.which("strip") is None, reason="no strip program")
def test_strip_debug_copies_and_strips_only_the_chosen_binaries(tmp_path: Path) -> None:
    src = Path(_sqlite3.__file__)
    if bf.elf_needed(str(src)) == []:
        pytest.skip("the sqlite3 extension is not an ELF file here")
    entries = [("libchosen.so", str(src), "BINARY"), ("other.so", str(src), "BINARY")]
    out = bf.strip_debug(entries, bf.matcher([r"^libchosen"]), str(tmp_path))
    chosen, other = out
    assert other == entries[1]  # untouched: same source
    copy = Path(chosen[1])
    assert copy.parent == tmp_path / "stripped" and chosen[0] == "libchosen.so"
    assert copy.stat().st_size <= src.stat().st_size
    assert bf.elf_needed(str(copy)) == bf.elf_needed(str(src))  # still a sound library
