#!/usr/bin/env bash
# Prints the path of qemu-aarch64-static after making sure it and the arm64 C and C++ runtimes
# (which the official Node binary for linux-arm64 links against) are installed from Debian: lets
# an x64 machine build and smoke-test the linux-arm64 standalone CLI (user-mode emulation, no VM).
# Needs root on first use (dpkg --add-architecture, apt-get), on Debian only: adding the
# architecture is permanent, so anywhere else it stops and says what to do. Progress goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! dpkg --print-foreign-architectures | grep -qx arm64 && [ "$(dpkg --print-architecture)" != arm64 ]; then
  # Adding an architecture is permanent (apt fetches arm64 package lists from then on), and only
  # Debian's archive serves arm64 from the same address (Ubuntu's is ports.ubuntu.com): refuse
  # anywhere else rather than leave apt broken.
  os_id=$(. /etc/os-release 2>/dev/null && echo "${ID:-}")
  if [ "$os_id" != debian ]; then
    echo "hack/qemu-arm64.sh: this is ${os_id:-an unknown system}, not Debian: it would add the architecture arm64 to dpkg for good and fetch arm64 libraries from the Debian archive." >&2
    echo "  Build the arm64 CLI on Debian (for example in a debian:bookworm container, as the release workflow does), or add arm64 yourself and install qemu-user-static libc6:arm64 libstdc++6:arm64." >&2
    exit 1
  fi
  [ "$(id -u)" -eq 0 ] || { echo "need root to add the Debian architecture arm64 (dpkg --add-architecture arm64)" >&2; exit 1; }
  echo ">> adding the Debian architecture arm64 (for qemu-user's arm64 libraries)" >&2
  dpkg --add-architecture arm64
  apt-get update -qq >&2
fi
"$here/apt-install.sh" --why "to build and run the linux-arm64 CLI under qemu-user" qemu-user-static libc6:arm64 libstdc++6:arm64
command -v qemu-aarch64-static
