#!/usr/bin/env bash
# The man page documents every option that `lattice --help` prints, and groff formats it without warnings.
# Usage: manpage_test.sh LATTICE_BINARY MAN_PAGE
set -euo pipefail
bin=$1 page=$2
help=$("$bin" --help)
# Options: a dash or two and a lower-case word, not inside a word ("1-24", "A-B" and "render-farm" are not).
options=$(grep -oE -- '(^|[^A-Za-z0-9-])--?[a-z][a-z0-9-]*' <<<"$help" | sed -E 's/^[^-]*//' | sort -u)
[ -n "$options" ] || { echo "manpage_test: no options found in --help" >&2; exit 1; }
missing=()
for o in $options; do
  grep -qF -- "${o//-/\\-}" "$page" || missing+=("$o")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "manpage_test: FAIL: $page does not document: ${missing[*]}" >&2
  exit 1
fi
warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
[ -z "$warnings" ] || { echo "manpage_test: FAIL: groff warnings:" >&2; echo "$warnings" >&2; exit 1; }
echo "manpage_test: OK: $(wc -w <<<"$options") options documented"
