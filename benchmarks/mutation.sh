#!/usr/bin/env bash
# Mutation testing of the modules users gate releases on (benchmarks/mutation.py): each module
# with its own tests, one module at a time, at the lowest CPU priority; prints the score per
# module and every surviving mutant. Run by hand (not part of CI's test run), e.g.
#   benchmarks/mutation.sh              # every module
#   benchmarks/mutation.sh gate merge   # some of them
# Target: >= 90 % of mutants killed per module (the script exits 1 below that).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
modules=("$@")
if [ ${#modules[@]} -eq 0 ]; then
  modules=(metrics gate merge missing scenarios)
fi
status=0
for module in "${modules[@]}"; do
  nice -n 19 "$python" benchmarks/mutation.py "$module" || status=1
done
exit $status
