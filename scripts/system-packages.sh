#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Aisle needs, or says exactly what to install when it cannot.
set -euo pipefail

PACKAGES=(
  python3-venv        # `python3 -m venv .venv` (Debian splits venv and ensurepip out of python3)
  libzbar0            # pyzbar's decoder library
  mosquitto           # the real MQTT broker (tests, production)
  mosquitto-clients   # mosquitto_sub / mosquitto_pub (benchmarks, "try it yourself")
  xvfb xauth          # virtual display for the Kivy app in tests and the headless demo
  libgl1-mesa-dri     # Mesa software OpenGL for Kivy on Xvfb
  libmtdev1           # Kivy input provider dependency
  fonts-noto-core     # Noto Naskh/Sans Arabic: Persian and Arabic glyphs
  fonts-dejavu-core   # Latin and Vietnamese glyphs
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "Aisle needs these system packages (Debian names): ${missing[*]}" >&2
  echo "Install their equivalents with your package manager, then run make again." >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "Aisle needs these system packages, and this user cannot install them:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "Installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
