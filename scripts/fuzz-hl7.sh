#!/usr/bin/env bash
# Coverage-guided fuzzing of the HL7 v2 library with libFuzzer on the stable toolchain
# (cargo-fuzz needs nightly for its sanitizer flag; the coverage instrumentation it relies
# on is available on stable through -C passes=sancov-module). Rust code is memory-safe, so
# running without AddressSanitizer loses little: the targets look for panics, hangs,
# round-trip mismatches and excessive memory.
#
#   scripts/fuzz-hl7.sh [parse|mllp] [SECONDS]      (default: both targets, 300 s each)
#
# Seeds: the ER7 samples in examples/hl7 and the library's test messages. The corpus
# grows in $FUZZ_DIR (default /tmp/yiyang-fuzz); crashes land there as crash-*.
# Needs a C++ compiler (libFuzzer is built from source by libfuzzer-sys) and, once,
# crates.io to fetch libfuzzer-sys.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
WHICH="${1:-all}"
SECONDS_EACH="${2:-300}"
FUZZ_DIR="${FUZZ_DIR:-/tmp/yiyang-fuzz}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$FUZZ_DIR/target}"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"

# With an explicit --target the flags reach the fuzzed code only, not build scripts.
HOST="$(rustc -vV | sed -n 's/^host: //p')"
cd crates/engines/hl7v2/fuzz
cargo build --release --bins --target "$HOST"
BIN="$CARGO_TARGET_DIR/$HOST/release"

seed() { # target -> corpus dir with seeds
  local dir="$FUZZ_DIR/corpus-$1"
  mkdir -p "$dir"
  # Each sample message of the public samples file as its own seed.
  awk -v d="$dir" 'BEGIN{RS="\n\n"} NF {f=sprintf("%s/sample-%02d", d, NR); printf "%s", $0 > f; close(f)}' \
    "$ROOT/examples/hl7/public-samples.hl7"
  echo "$dir"
}

run() { # target
  local corpus
  corpus="$(seed "$1")"
  echo "== fuzzing $1 for $SECONDS_EACH s (corpus $corpus)"
  (cd "$FUZZ_DIR" && "$BIN/$1" -max_total_time="$SECONDS_EACH" \
    -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 "$corpus")
}

case "$WHICH" in
  parse|mllp) run "$WHICH" ;;
  all) run parse; run mllp ;;
  *) echo "usage: $0 [parse|mllp] [SECONDS]" >&2; exit 2 ;;
esac
