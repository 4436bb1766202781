#!/usr/bin/env bash
# The long fuzz run of the readers of on-disk and network bytes (state file, activity log, delta
# stream and its verifier, protocol frames, S3 manifest): FACTOR times the inputs CI tries (default
# 100, about 15 minutes here), from SEED (default: a new one each run; CI always uses the same).
# A failure names its input (kept under MODULE/target/fuzz-failures/) and the seed that rebuilds
# it: keep that input under MODULE/src/test/resources/fuzz/NAME/ with the fix.
# Usage: bench/fuzz.sh [FACTOR] [SEED]
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
factor="${1:-100}"
seed="${2:-$RANDOM$RANDOM}"
cd "$root"
echo "fuzzing with -Dcbtfs.fuzz.factor=$factor -Dcbtfs.fuzz.seed=$seed"
mvn -B -Dspotless.check.skip=true -pl tracker,syncer,s3,cli -am verify -DskipITs \
  -Dtest='*FuzzTest' -Dsurefire.failIfNoSpecifiedTests=false \
  -Dcbtfs.fuzz.factor="$factor" -Dcbtfs.fuzz.seed="$seed" \
  | grep -E "^fuzz |Tests run:|FAIL|BUILD|AssertionError"
