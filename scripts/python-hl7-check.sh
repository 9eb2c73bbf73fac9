#!/usr/bin/env bash
# Sends examples/hl7/public-samples.hl7 (the HL7 standard's own ADT^A01 and ORU^R01
# examples plus Meizhou ADT/ORM/SIU samples, all fictional) with python-hl7's `mllp_send`
# to a running server and prints each ACK's MSA segment. Needs PyPI access once for the
# virtualenv; not part of the test suite for that reason.
#
#   scripts/python-hl7-check.sh [port]        (default 2575, the demo channel)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${1:-2575}"
VENV="${VENV:-${TMPDIR:-/tmp}/yiyang-hl7venv}"
[ -x "$VENV/bin/mllp_send" ] || { python3 -m venv "$VENV"; "$VENV/bin/pip" install -q hl7; }
"$VENV/bin/mllp_send" --loose --file examples/hl7/public-samples.hl7 --port "$PORT" 127.0.0.1 \
  | tr '\r' '\n' | grep '^MSA'
