# Sourced by every bench script: `root` is the repository root, and the
# script runs from there whatever folder it was started in.
root="$(cd "$(dirname "${BASH_SOURCE[1]}")/../.." && pwd)"
cd "$root"
