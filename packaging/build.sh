#!/usr/bin/env bash
# Build the AutoTrader Workstation bundle: packaging/build.sh
#
# One command: installs PyInstaller into .venv when it is missing (run scripts/bootstrap.sh
# first for the venv itself), builds the one-folder bundle from packaging/workstation.spec
# and prints where it is and how big. The result, dist/workstation/, runs on a machine of
# the same OS and CPU family without Python: ship the folder (zip or tar it).
#
# Environment (all optional):
#   DIST=DIR   where the bundle goes (default: dist/ of the checkout; the bundle is DIR/workstation)
#   WORK=DIR   PyInstaller's work folder (default: build/ of the checkout)
#   PYTHON=EXE the Python of the venv (default: .venv/bin/python of the checkout)
# The tests set DIST and WORK to a temporary folder so a test run never writes to the repo.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

py="${PYTHON:-$root/.venv/bin/python}"
dist="${DIST:-$root/dist}"
work="${WORK:-$root/build}"
# PyInstaller 6.10+ (its Qt 6.8+ and Python 3.11 support); the version tested is 6.22.
pyinstaller_req="pyinstaller>=6.10,<7"

if [[ ! -x "$py" ]]; then
  echo "build: no Python at $py; run scripts/bootstrap.sh first (or set PYTHON)" >&2
  exit 1
fi
if ! "$py" -c 'import PyInstaller' >/dev/null 2>&1; then
  echo "build: installing $pyinstaller_req into $("$py" -c 'import sys; print(sys.prefix)')"
  "$py" -m pip install -q --disable-pip-version-check "$pyinstaller_req"
fi

echo "build: PyInstaller $("$py" -m PyInstaller --version), building into $dist/workstation"
start=$SECONDS
"$py" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$dist" --workpath "$work" "$root/packaging/workstation.spec"
bundle="$dist/workstation"
exe="$bundle/workstation"
[[ -x "$exe" ]] || exe="$bundle/workstation.exe"
if [[ ! -x "$exe" ]]; then
  echo "build: PyInstaller finished but $bundle holds no workstation executable" >&2
  exit 1
fi
size=$(du -sh "$bundle" | cut -f1)
echo "build: done in $((SECONDS - start)) s: $bundle ($size)"
echo "build: run it with $exe (try: $exe --self-test)"
