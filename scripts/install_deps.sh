#!/bin/sh
# Installs, from Debian's packages, what building nxm and running its demo and tests need; installs
# nothing that is already there. Run as root or as a user who may sudo. Debian 12 (bookworm) or newer.
#
#   sh scripts/install_deps.sh          build, demo and `make test`
#   sh scripts/install_deps.sh --all    also what the hardening, fault and client targets use (CI)
set -eu

packages="make gcc libc6-dev libsqlite3-dev libcjson-dev sqlite3 python3 python3-pytest python3-tqdm
binutils procps faketime"
if [ "${1:-}" = "--all" ]; then
  packages="$packages clang llvm libclang-rt-14-dev valgrind cppcheck clang-format python3-apsw
tcl libsqlite3-tcl g++"
fi
# The Node client test needs Node 20 or newer with its headers (better-sqlite3 12 is compiled against
# them). Debian 12's own nodejs is 18, so it is not installed from here; CI machines have Node 20.

missing=""
for package in $packages; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $package"
  fi
done
if [ -z "$missing" ]; then
  echo "install_deps: everything needed is installed"
  exit 0
fi

if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
echo "install_deps: installing$missing"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing
