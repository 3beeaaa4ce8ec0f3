#!/usr/bin/env bash
# Builds the Debian package from this build tree with CPack, checks its name, Depends and file list, unpacks it
# into a scratch root with `dpkg -x` (not installed), and runs the unpacked program the way a user would:
# --version, --render of the installed default example, and (editor builds) the editor opening that example
# offscreen, with no LD_LIBRARY_PATH and no build tree paths.
# Usage: deb_test.sh BUILD_DIR VERSION EDITOR(ON|OFF)
set -euo pipefail
build=$1 version=$2 editor=$3
scratch=$(mktemp -d /tmp/lattice_deb_test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "deb_test: FAIL: $*" >&2; exit 1; }

# 1. Build the package (cpack installs the build tree into a staging folder, strips, runs dpkg-shlibdeps).
if ! cpack --config "$build/CPackConfig.cmake" -B "$scratch/pkg" >"$scratch/cpack.log" 2>&1; then
  cat "$scratch/cpack.log" >&2
  fail "cpack failed"
fi
deb="$scratch/pkg/lattice_${version}_amd64.deb"
[ -f "$deb" ] || fail "expected $deb; cpack wrote: $(ls "$scratch/pkg")"

# 2. Metadata: shared libraries found by dpkg-shlibdeps, run-time QML modules and platform plugins declared.
depends=$(dpkg-deb -f "$deb" Depends)
wanted=(libc6 libstdc++6 libvulkan1 libopenimageio)
[ "$editor" = ON ] && wanted+=(libqt6quick6 qml6-module-qtquick-controls qml6-module-qtquick-dialogs
  qml6-module-qt-labs-folderlistmodel)
for d in "${wanted[@]}"; do
  grep -q "$d" <<<"$depends" || fail "Depends lacks $d: $depends"
done
[ "$(dpkg-deb -f "$deb" Package)" = lattice ] || fail "package name"
[ "$(dpkg-deb -f "$deb" Architecture)" = amd64 ] || fail "architecture"
# Every dependency resolves on this machine (a simulation: nothing is installed).
apt-get install --simulate "$deb" >"$scratch/apt.log" 2>&1 || { cat "$scratch/apt.log" >&2; fail "apt cannot satisfy Depends"; }

# 3. Contents.
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/lattice ./usr/share/lattice/examples/default.lattice ./usr/share/lattice/examples/flux-dev.lattice \
         ./usr/share/applications/lattice.desktop ./usr/share/mime/packages/lattice.xml \
         ./usr/share/man/man1/lattice.1.gz ./usr/share/icons/hicolor/scalable/apps/lattice.svg \
         ./usr/share/icons/hicolor/16x16/apps/lattice.png ./usr/share/icons/hicolor/256x256/apps/lattice.png \
         ./usr/share/doc/lattice/render-farm.md; do
  grep -qxF "$f" <<<"$contents" || fail "the package lacks $f"
done

# 4. Unpack and run. From an empty folder, so that nothing can be found relative to the build tree.
dpkg -x "$deb" "$scratch/root"
bin="$scratch/root/usr/bin/lattice"
if readelf -d "$bin" | grep -qE 'RPATH|RUNPATH'; then fail "the installed binary carries an RPATH"; fi
mkdir "$scratch/work" && cd "$scratch/work"
got=$(env -u LD_LIBRARY_PATH "$bin" --version) || fail "--version exited with $?"
[ "$got" = "lattice $version" ] || fail "--version printed '$got'"
env -u LD_LIBRARY_PATH "$bin" --render "$scratch/root/usr/share/lattice/examples/default.lattice" \
  --output-dir "$scratch/out" >"$scratch/render.log" 2>&1 || { cat "$scratch/render.log" >&2; fail "--render failed"; }
[ -s "$scratch/out/default.png" ] || fail "no out/default.png; log: $(cat "$scratch/render.log")"
cmp -s <(head -c 8 "$scratch/out/default.png") <(printf '\211PNG\r\n\032\n') || fail "default.png is not a PNG"
# The FLUX example reads its model configs from the installed examples folder (paths relative to the project).
env -u LD_LIBRARY_PATH "$bin" --render "$scratch/root/usr/share/lattice/examples/flux-dev.lattice" --dry-run \
  >"$scratch/plan.log" 2>&1 || { cat "$scratch/plan.log" >&2; fail "--dry-run of the installed flux-dev example failed"; }
grep -q '^total: .* FLOP' "$scratch/plan.log" || fail "no plan total: $(cat "$scratch/plan.log")"
if [ "$editor" = ON ]; then
  # The QML modules are resources inside the executable: the editor must come up with nothing else installed.
  QT_QPA_PLATFORM=offscreen LATTICE_EDITOR_SCREENSHOT="$scratch/editor.png" XDG_RUNTIME_DIR="$scratch" \
    env -u LD_LIBRARY_PATH timeout 120 "$bin" "$scratch/root/usr/share/lattice/examples/default.lattice" \
    >"$scratch/editor.log" 2>&1 || { cat "$scratch/editor.log" >&2; fail "the editor exited with an error"; }
  [ -s "$scratch/editor.png" ] || fail "the editor saved no screenshot: $(cat "$scratch/editor.log")"
fi

# 5. Desktop integration: the .desktop file opens .lattice files, whose MIME type the package defines.
desktop="$scratch/root/usr/share/applications/lattice.desktop"
grep -qx 'Exec=lattice %f' "$desktop" || fail "Exec line"
grep -qx 'MimeType=application/x-lattice;' "$desktop" || fail "MimeType line"
grep -qx 'Icon=lattice' "$desktop" || fail "Icon line"
if command -v update-mime-database >/dev/null; then
  mkdir -p "$scratch/mime/packages"
  cp "$scratch/root/usr/share/mime/packages/lattice.xml" "$scratch/mime/packages/"
  update-mime-database "$scratch/mime" 2>"$scratch/mime.log" || fail "update-mime-database: $(cat "$scratch/mime.log")"
  grep -q 'application/x-lattice:\*\.lattice' "$scratch/mime/globs2" || fail "*.lattice is not mapped to application/x-lattice"
fi
gzip -t "$scratch/root/usr/share/man/man1/lattice.1.gz" || fail "man page is not valid gzip"
echo "deb_test: OK: $(basename "$deb") ($(du -h "$deb" | cut -f1)); Depends: $depends"
