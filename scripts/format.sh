#!/usr/bin/env bash
# The house format (.clang-format), pinned to clang-format-19: Debian 12's default clang-format is
# 14 and formats differently. `scripts/format.sh` rewrites the tracked sources in place;
# `scripts/format.sh --check` lists files that differ and fails (CI runs this).
set -euo pipefail
cd "$(dirname "$0")/.."
fmt=clang-format-19
command -v "$fmt" >/dev/null || { echo "format: $fmt not found (scripts/setup.sh installs it)"; exit 1; }
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h')
if [ "${1:-}" = --check ]; then
  bad=()
  for f in "${files[@]}"; do
    "$fmt" --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
  done
  if ((${#bad[@]})); then
    echo "format: ${#bad[@]} file(s) differ from .clang-format (run scripts/format.sh):"
    printf '  %s\n' "${bad[@]}"
    exit 1
  fi
  echo "format: ${#files[@]} files match .clang-format"
else
  "$fmt" -i "${files[@]}"
fi
