#!/bin/sh
# A docker credential helper for tests: keeps one file per server URL in @STORE_DIR@ and logs
# each action (with the server URL, never the secret) to @STORE_DIR@/actions.log.
# Written into a temporary directory by the tests, with @STORE_DIR@ replaced.
set -eu
store='@STORE_DIR@'
mkdir -p "$store/entries"
input=$(cat)
file_for() { printf '%s' "$1" | tr -c 'A-Za-z0-9.-' '_'; }
case "${1:-}" in
store)
    url=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
    printf '%s\n' "store $url" >> "$store/actions.log"
    printf '%s' "$input" > "$store/entries/$(file_for "$url")"
    ;;
get)
    printf '%s\n' "get $input" >> "$store/actions.log"
    entry="$store/entries/$(file_for "$input")"
    if [ -f "$entry" ]; then cat "$entry"; else echo "credentials not found in native keychain"; exit 1; fi
    ;;
erase)
    printf '%s\n' "erase $input" >> "$store/actions.log"
    entry="$store/entries/$(file_for "$input")"
    if [ -f "$entry" ]; then rm "$entry"; else echo "credentials not found in native keychain"; exit 1; fi
    ;;
list)
    printf '%s\n' "list" >> "$store/actions.log"
    sep=''
    printf '{'
    for entry in "$store"/entries/*; do
        [ -f "$entry" ] || continue
        url=$(sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p' "$entry")
        user=$(sed -n 's/.*"Username":"\([^"]*\)".*/\1/p' "$entry")
        printf '%s"%s":"%s"' "$sep" "$url" "$user"
        sep=','
    done
    printf '}\n'
    ;;
*)
    echo "unknown action: ${1:-}" >&2
    exit 2
    ;;
esac
