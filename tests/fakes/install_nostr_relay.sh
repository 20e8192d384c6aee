#!/usr/bin/env bash
# Create (idempotently) the separate venv that holds the PyPI `nostr-relay` package, the second,
# independent relay implementation the integration tests run as a subprocess.
# Usage: tests/fakes/install_nostr_relay.sh   (from anywhere; the venv lands at <repo>/.venv-nostr-relay)
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
VENV=.venv-nostr-relay
VERSION=${NOSTR_RELAY_VERSION:-1.14}

if [ -x "$VENV/bin/nostr-relay" ] && "$VENV/bin/python" -c 'import nostr_relay' 2>/dev/null; then
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "nostr-relay==$VERSION" 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -c 'import nostr_relay' # fail early if the install did not work
