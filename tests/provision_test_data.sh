#!/usr/bin/env bash
# Provisions the test data that pip cannot install, for README.md's test
# command (which .ci/run runs): Debian's Fashion-MNIST files (package
# dataset-fashion-mnist, 30 MB, in /usr/share/datasets/fashion-mnist, the
# path mpl_jax.data.provision.DEBIAN_FASHION_MNIST_DIR names). The tests that
# use the `fmnist_data_dir` fixture (tests/conftest.py) prepare TFDS's
# fashion_mnist from them offline; without them those tests skip.
#
# It installs them with apt-get (as root, or with password-less sudo) when
# they are missing, and never fails the command: where they cannot be
# installed (no apt-get, no root, no package index) it prints one warning and
# the tests that need them skip, each saying why.
#
# MPL_JAX_FASHION_MNIST_DIR overrides the folder checked (for its own test).
set -uo pipefail

dir="${MPL_JAX_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
       t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

have_files() {
  local f
  for f in "${files[@]}"; do
    [ -f "$dir/$f" ] || return 1
  done
}

if have_files; then
  echo "test data: Fashion-MNIST files present in $dir"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 \
    && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
fi
if command -v apt-get >/dev/null 2>&1 \
    && { [ "$(id -u)" -eq 0 ] || [ "${#sudo[@]}" -gt 0 ]; }; then
  echo "test data: installing dataset-fashion-mnist with apt-get"
  # ${sudo[@]+...}: an empty array under `set -u` with bash < 4.4 (macOS).
  ${sudo[@]+"${sudo[@]}"} apt-get update -qq \
    && ${sudo[@]+"${sudo[@]}"} apt-get install -y -qq dataset-fashion-mnist \
      >/dev/null
fi

if have_files; then
  echo "test data: Fashion-MNIST files installed in $dir"
else
  echo "warning: Fashion-MNIST files not in $dir and not installable here" \
       "(needs \`apt-get install dataset-fashion-mnist\` as root); the tests" \
       "that read them will skip, each saying why." >&2
fi
exit 0
