#!/usr/bin/env bash
# Installs the Debian packages ember needs that are missing (run as root on Debian 12).
# Usage: scripts/setup.sh [extra packages...]
set -euo pipefail
need=(cmake ninja-build g++ pkg-config llvm-19-dev libboost-dev catch2 libbenchmark-dev
      libopenblas-dev libdnnl-dev zlib1g-dev nlohmann-json3-dev libzstd-dev ccache clang-format-19
      dataset-fashion-mnist fortunes libopenmpi-dev openmpi-bin "$@")
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "ember: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
