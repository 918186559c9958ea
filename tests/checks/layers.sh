#!/usr/bin/env bash
# Fails when an #include points up the layer order or across to a sibling that is not below
# it (docs/architecture.md). Each folder lists the folders it may include from; its own is
# always allowed. tests/ and loadtest/ may include anything, and nothing may include them.
#   usage: layers.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "$0")/../..}"

declare -A may_use=(
  [core]=""
  [config]="core"
  [certs]="core config"
  [health]="core config certs"
  [routing]="core config certs health"
  [fleet]="core"
  [acme]="core config certs fleet"
  [proxy/http]="core"
  [proxy/observe]="core"
  [proxy/policy]="core config certs health routing proxy/http proxy/observe"
  [proxy/upstream]="core config certs health routing proxy/http proxy/observe proxy/policy"
  [proxy/exchange]="core config certs health routing proxy/http proxy/observe proxy/policy
                    proxy/upstream"
  [proxy/downstream]="core config certs health routing proxy/http proxy/observe proxy/policy
                      proxy/upstream proxy/exchange"
  [proxy/dashboard]="core config certs health routing proxy/http proxy/observe proxy/policy"
  [proxy/server]="core config certs health routing proxy/http proxy/observe proxy/policy
                  proxy/upstream proxy/exchange proxy/downstream proxy/dashboard fleet acme"
  [proxy/cli]="core config certs health routing proxy/http proxy/observe proxy/policy
               proxy/upstream proxy/exchange proxy/downstream proxy/dashboard proxy/server fleet acme"
)

# The folder (layer) a repository path belongs to: proxy/<layer>/..., else its first part.
layer_of() {
  case "$1" in
    proxy/*/*) echo "${1%%/*}/$(echo "$1" | cut -d/ -f2)" ;;
    */*) echo "${1%%/*}" ;;
    *) echo "" ;;
  esac
}

bad=0
checked=0
for folder in "${!may_use[@]}"; do
  for file in $(find "$folder" -maxdepth 1 -name '*.h' -o -maxdepth 1 -name '*.cc' | sort); do
    while IFS=: read -r line target; do
      checked=$((checked + 1))
      to=$(layer_of "$target")
      [ -z "$to" ] || [ "$to" = "$folder" ] && continue
      allowed=0
      for ok in ${may_use[$folder]}; do [ "$ok" = "$to" ] && allowed=1; done
      if [ "$allowed" = 0 ]; then
        echo "$file:$line: includes \"$target\": $folder may not use $to"
        bad=$((bad + 1))
      fi
    done < <(grep -nE '^#include "[^"]+"' "$file" | sed -E 's/^([0-9]+):#include "([^"]+)".*/\1:\2/')
  done
done

# Every folder with sources must be in the table, or a new layer would go unchecked.
for dir in core config certs health routing fleet acme proxy/*/; do
  dir=${dir%/}
  [ -n "$(find "$dir" -maxdepth 1 -name '*.cc' -o -maxdepth 1 -name '*.h')" ] || continue
  if [ -z "${may_use[$dir]+set}" ]; then
    echo "$dir: not in the layer table of $0"
    bad=$((bad + 1))
  fi
done

echo "layers: $checked includes checked, $bad pointing the wrong way"
[ "$bad" -eq 0 ]
