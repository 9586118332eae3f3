#!/usr/bin/env bash
# tests/sdk/run.sh BUILD_DIR SOURCE_DIR - installs nnrt into a scratch
# prefix, builds the template plugin and a consumer program against that
# prefix only (CMake package and pkg-config), and runs them together.
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/plugins/template" -B "$work/template" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/template" >/dev/null
cmake -S "$src/tests/sdk" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
libdir=$(dirname "$(find "$work/prefix" -name 'libnnrt.so' | head -n 1)")
export LD_LIBRARY_PATH="$libdir" NNRT_PLUGIN_PATH="$work/template"
"$work/consumer/consumer"
# the same program through pkg-config
PKG_CONFIG_PATH="$libdir/pkgconfig" cc -o "$work/consumer_pc" "$src/tests/sdk/consumer.c" \
  $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs nnrt)
"$work/consumer_pc"
echo "sdk: install, find_package, pkg-config and a third-party plugin all work"
