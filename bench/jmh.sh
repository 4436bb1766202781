#!/usr/bin/env bash
# Runs the JMH benchmarks of the hot paths (tracker mark, activity log).
# Usage: bench/jmh.sh [JMH args, e.g. MarkBenchmark -f 2]
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
mvn -q -B -DskipTests -Dspotless.check.skip=true package -pl bench/jmh -am
exec java -jar bench/jmh/target/benchmarks.jar "$@"
