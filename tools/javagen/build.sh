#!/usr/bin/env bash
# Regenerate fixtures/java/*.ser and manifest.json with the local JDK (17 used for the commit).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
javac -d "$build" $(find "$here/src" -name '*.java')
java -Xss64m -cp "$build" JavaGen "${1:-$here/../../fixtures/java}"
