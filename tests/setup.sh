#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian 12 machine (run as root).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  debootstrap systemd-container   # disposable systemd CI nodes
  debian-archive-keyring iproute2
  docker.io busybox-static        # the private test daemon and FROM-scratch images
  openssh-client                  # ansible's ssh connection to the nodes
  ansible-core                    # Debian's ansible-core 2.14: the oldest we support
  python3-venv
  qemu-user-static binfmt-support # runs the aarch64 module binaries on this x86_64 machine
)
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  # The suite starts the daemons it needs itself; packages must not leave services (the
  # machine's own dockerd, containerd) running behind it.
  policy=/usr/sbin/policy-rc.d
  had_policy=false
  [[ -e $policy ]] && had_policy=true
  $had_policy || printf '#!/bin/sh\nexit 101\n' > "$policy"
  $had_policy || chmod 755 "$policy"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  $had_policy || rm -f "$policy"
fi

for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
done

# aarch64 binaries run through qemu-user via binfmt_misc; the F flag (set by Debian's
# qemu-user-static) keeps the interpreter open, so they also run inside the test nodes.
if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
[[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] || update-binfmts --enable qemu-aarch64

if ! .venv/bin/python -c 'import ansible, pytest' 2>/dev/null \
   || ! cmp -s tests/requirements.txt .venv/requirements.txt; then
  echo "setup: creating .venv from tests/requirements.txt"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
  cp tests/requirements.txt .venv/requirements.txt
fi
