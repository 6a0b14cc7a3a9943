#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Installs what sockhost needs to build, run and test on Debian 12, from Debian's packages
# only. Idempotent: skips apt entirely when everything is already there.
set -euo pipefail

pkgs=(
	build-essential cmake pkg-config clang llvm libclang-rt-14-dev
	libbpf-dev bpftool libelf-dev zlib1g-dev libmicrohttpd-dev
	lua5.4 liblua5.4-dev libreadline-dev
	lua-busted lua-argparse lua-cjson lua-socket lua-check
	iproute2 procps
	iputils-ping
	libbpf-tools tshark jq python3
	man-db groff-base bsdextrautils
	prometheus python3-prometheus-client
	systemd logrotate libcap2-bin
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if ((${#missing[@]})); then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# wireshark-common asks whether non-root users may capture: no (the specs run as root)
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: all dependencies present"
