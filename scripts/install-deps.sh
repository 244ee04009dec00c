#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine: the rustup target for
# canisters and the Debian packages below. Idempotent and quiet when everything is there.
set -euo pipefail

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "install-deps: rustup target add wasm32-unknown-unknown" >&2
  rustup target add wasm32-unknown-unknown
fi

# The lint gates of scripts/test.sh (cargo fmt --check, cargo clippy -D warnings).
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    echo "install-deps: rustup component add $component" >&2
    rustup component add "$component"
  fi
done

# Debian packages the build and the tests need. Each is installed only when dpkg does not
# already have it, so a machine that has everything runs no apt at all.
#   glslc               emc-poc's build.rs compiles the Vulkan compute shaders to SPIR-V
#   libvulkan1          the Vulkan loader vulkano opens at run time
#   mesa-vulkan-drivers lavapipe, the CPU Vulkan device the emc-poc tests run on
#   chromium            the headless browser the explorer's tests drive (puppeteer-core)
packages=(glslc libvulkan1 mesa-vulkan-drivers chromium)
need=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "install-deps: apt-get install ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  sudo_=()
  [ "$(id -u)" -eq 0 ] || sudo_=(sudo)
  "${sudo_[@]}" apt-get update -qq
  "${sudo_[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
