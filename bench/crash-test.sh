#!/usr/bin/env bash
# The long kill -9 crash test: RUNS (default 200) runs of a real mount killed at random moments,
# each checked for lost changes (must be 0) and the size of the resync.
# Usage: bench/crash-test.sh [RUNS]
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
runs="${1:-200}"
cd "$root"
mvn -q -B -DskipTests -Dspotless.check.skip=true install
mvn -B -Dspotless.check.skip=true -pl native-tests verify \
  -Dit.test=CrashIT -Dcbtfs.crash.runs="$runs" -Dsurefire.failIfNoSpecifiedTests=false \
  | grep -E "crash test:|Tests run:|FAIL|BUILD"
