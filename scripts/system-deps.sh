#!/usr/bin/env bash
# Installs the Debian packages cpoms-kit needs when they are missing and we may (root).
# Without root, says loudly what is missing; the browser tests then skip naming the package.
set -euo pipefail
need=()
command -v gpg >/dev/null || need+=(gnupg)
command -v git >/dev/null || need+=(git)
command -v chromium >/dev/null || need+=(chromium)
[ -e /usr/share/zoneinfo/Europe/London ] || need+=(tzdata)
# British English word list (SCOWL) read by the recording-quality spelling check (`cpoms lint`).
[ -e /usr/share/dict/british-english ] || need+=(wbritish)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "WARNING: missing Debian packages: ${need[*]} (run as root: apt-get install ${need[*]})" >&2
fi
