#!/usr/bin/env bash
# tools/setup.sh - sets up a fresh Debian machine for nnrt and runs it.
#   tools/setup.sh demo   install what is missing, build, train the demo
#   tools/setup.sh test   install what is missing, build, run every test
# Run as root on a new machine (it installs Debian packages with apt-get
# when they are missing); later runs only rebuild.
set -euo pipefail
mode=${1:-demo}
case "$mode" in demo|test) ;; *) echo "usage: $0 demo|test" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config   # toolchain
  libcriterion-dev                   # tests
  libopenblas-dev                    # GEMM of the reference backend
  libdnnl-dev                        # oneDNN backend plugin
  ocl-icd-opencl-dev opencl-headers  # OpenCL backend plugin (Khronos ICD loader)
  pocl-opencl-icd                    # an OpenCL driver for the CPU, so OpenCL runs everywhere
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else echo "setup: run as root to install ${missing[*]}" >&2; exit 1; fi
  else
    SUDO=
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"

if [ "$mode" = demo ]; then
  exec ./build/bin/nnrt-demo
else
  cd build
  exec ctest --output-on-failure
fi
