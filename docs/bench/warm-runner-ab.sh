#!/bin/bash
# RUNNERS="D E" picks other builds (then every build also runs over pipes).
# Needs /tmp/faasin_A, _C, _D (, _E): copies of target/release/faasin built at the commits named in warm-runner-ab.txt.
# A/B/C of warm runners: rounds alternate the runner builds.
cd "$(dirname "$0")/../.."
export PATH=$PWD/target/release:$PATH
C=(chainfn\ write\ 100 faasin\ cat faasin\ cat faasin\ cat faasin\ cat faasin\ cat faasin\ cat faasin\ cat faasin\ cat chainfn\ read)
for r in 1 2 3; do
  for v in ${RUNNERS:-A C D}; do
    for t in faasin pipe; do
      [ $t = pipe ] && [ -z "${RUNNERS:-}" ] && [ $v != D ] && [ $v != A ] && continue
      a=$(/tmp/faasin_$v run --warm 301 --transport $t -i /dev/null -o /dev/null "chainfn write 1024" "chainfn read" 2>&1 | tail -1 | sed 's/.*median //')
      b=$(/tmp/faasin_$v run --warm 301 --transport $t -i /dev/null -o /dev/null "chainfn write 1048576" "chainfn read" 2>&1 | tail -1 | sed 's/.*median //')
      c=$(/tmp/faasin_$v run --warm 101 --transport $t -i /dev/null -o /dev/null "${C[@]}" 2>&1 | tail -1 | sed 's/.*median //')
      echo "round $r runner $v $t | 1 KiB $a | 1 MiB $b | chain10 $c | $(host_state)"
    done
  done
done
