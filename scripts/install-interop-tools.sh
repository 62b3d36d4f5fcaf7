#!/usr/bin/env bash
# Install the Debian tools the interop tests check against, when missing:
#   dciodvfy (dicom3tools)            - validates every exported DICOM object
#   Orthanc + orthanc-dicomweb plugin - a real PACS for the C-STORE and STOW-RS tests
# Usage: scripts/install-interop-tools.sh [dicom3tools|orthanc|all]
# Exits 0 when the tools are present afterwards, 2 when they cannot be installed here
# (not root, no apt-get); the tests then skip with that reason.
set -euo pipefail
want="${1:-all}"
packages=()
if [[ "$want" == dicom3tools || "$want" == all ]] && ! command -v dciodvfy >/dev/null; then
  packages+=(dicom3tools)
fi
if [[ "$want" == orthanc || "$want" == all ]]; then
  command -v Orthanc >/dev/null || packages+=(orthanc)
  ls /usr/share/orthanc/plugins/libOrthancDicomWeb.so >/dev/null 2>&1 || packages+=(orthanc-dicomweb)
fi
[[ ${#packages[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "needs root to apt-get install ${packages[*]}" >&2; exit 2
fi
if ! command -v apt-get >/dev/null; then
  echo "no apt-get: install ${packages[*]} by hand" >&2; exit 2
fi
export DEBIAN_FRONTEND=noninteractive
# Install straight away when the package lists are there; refresh them once if not.
exec 9>/tmp/dermbridge-apt.lock
flock 9
if ! apt-get install -y --no-install-recommends "${packages[@]}" >/tmp/dermbridge-apt.log 2>&1; then
  apt-get update >>/tmp/dermbridge-apt.log 2>&1 || true
  apt-get install -y --no-install-recommends "${packages[@]}" >>/tmp/dermbridge-apt.log 2>&1 || {
    echo "apt-get install ${packages[*]} failed: see /tmp/dermbridge-apt.log" >&2; exit 2; }
fi
