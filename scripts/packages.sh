#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# packages.sh WHO... - the packages of scripts/debian-packages needed by WHO (test, ci), one line.
set -euo pipefail
list="$(dirname "${BASH_SOURCE[0]}")/debian-packages"
awk -v who=" $* " '!/^#/ && NF >= 2 && index(who, " " $2 " ") { printf "%s%s", sep, $1; sep = " " } END { print "" }' "$list"
