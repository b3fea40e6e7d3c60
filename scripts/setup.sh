#!/usr/bin/env bash
# One-time (and idempotent) set-up for a fresh machine: Debian packages, then npm packages.
# Everything the project needs is installed from here; nothing is expected to be there by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

want=()
while read -r pkg; do
  pkg=${pkg%%#*}; pkg=${pkg//[[:space:]]/}
  [ -n "$pkg" ] || continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || want+=("$pkg")
done < scripts/debian-packages.txt

if [ ${#want[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${want[*]}" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >&2
fi

# Install only when the lockfile changed since the last install, so repeated runs cost nothing.
# `npm install` rather than `npm ci`: npm 11 leaves other platforms' optional packages (msgpackr's
# native extract builds) out of the lockfile it writes and then `npm ci` refuses that lockfile as
# out of sync. `npm install` follows the same lockfile and leaves it unchanged.
stamp=node_modules/.xlts-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "setup: installing npm packages" >&2
  npm install --no-audit --no-fund >&2
  cp package-lock.json "$stamp"
fi

# `npx xlts` in this checkout makes npm 11 "install" the project itself into npx's cache (a link
# plus a chmod of bin/xlts.js). Inside the KVM lab the checkout is a read-only share and that
# chmod fails with EROFS; the lab seeds its private npm cache from the host's, so doing the
# install once here, where the checkout is writable, lets `npx xlts` work in there too.
npx --yes xlts --version >/dev/null
