#!/usr/bin/env bash
# End-to-end load benchmark: direct vs nginx vs Bulwark. See bench/README.md.
# Thin wrapper: the work (and the cleanup trap) is in gateway.py, which exec replaces us with
# so Ctrl-C and SIGTERM reach it directly.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v python3 >/dev/null 2>&1; then
    echo "error: python3 is required (apt-get install -y python3)" >&2
    exit 1
fi
exec python3 "$here/gateway.py" "$@"
