#!/usr/bin/env bash
# Fetch the pinned JVM jars (Sedona, GeoTools wrapper, Delta) from Maven Central
# into deploy/jars/ (git-ignored). Idempotent: a complete folder is left alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="${1:-$here/jars}"
pom="$here/maven/pom.xml"
stamp="$out/.fetched-$(sha256sum "$pom" | cut -c1-16)"
if [ -f "$stamp" ]; then
  echo "jars: up to date in $out"
  exit 0
fi
command -v mvn >/dev/null || { echo "jars: Maven (mvn) is not on PATH; install it or copy the jars listed in $pom into $out" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"
mvn -q -B -f "$pom" dependency:copy-dependencies \
  -DoutputDirectory="$out" -DincludeScope=runtime -DoverWriteReleases=false
n=$(ls "$out"/*.jar | wc -l)
touch "$stamp"
echo "jars: $n jars in $out"
ls "$out"/*.jar | xargs -n1 basename
