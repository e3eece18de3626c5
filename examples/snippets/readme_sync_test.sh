#!/bin/sh
# readme_sync_test.sh README.md FILE...: for every FILE, the lines between its two
# "// [name]" markers must appear in README.md as one block between "<!-- snippet: name -->"
# and the next "```" line after the opening "```cpp". Fails naming the first snippet that differs.
set -eu
readme=$1
shift
status=0
for f in "$@"; do
  name=$(sed -n 's|^// \[\(.*\)\]$|\1|p' "$f" | head -n 1)
  want=$(awk -v m="// [$name]" '$0 == m { n++; next } n == 1' "$f")
  got=$(awk -v m="<!-- snippet: $name -->" '
    $0 == m { s = 1; next }
    s == 1 && /^```cpp$/ { s = 2; next }
    s == 2 && /^```$/ { exit }
    s == 2' "$readme")
  if [ "$want" != "$got" ]; then
    echo "README.md: snippet '$name' differs from $f" >&2
    status=1
  else
    echo "README.md: snippet '$name' matches $f"
  fi
done
exit $status
