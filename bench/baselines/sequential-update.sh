#!/usr/bin/env bash
# What an operator runs without Lockstep: a loop over the printers, one after another, each
# updated by Klipper's manual procedure (update-printer.sh, piped over plain ssh).
#
#   sequential-update.sh -t TARGET [-u USER] [-i KEY] [-k KNOWN_HOSTS] HOSTS_FILE
#
# HOSTS_FILE has a line per printer host: its address, then its boards in flash order as
# update-printer.sh takes them (NAME:METHOD[:ADDRESS]); `#` starts a comment. See hosts.example.
# Host keys are checked against KNOWN_HOSTS (default ~/.ssh/known_hosts); an unknown or changed
# key fails that host. A failed host does not stop the loop; the exit code is 1 if any failed.
# Prints `host ADDRESS exit=N ms=N` for each host.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
target=
user=pi
key=
known_hosts=

usage() {
  echo "usage: sequential-update.sh -t TARGET [-u USER] [-i KEY] [-k KNOWN_HOSTS] HOSTS_FILE" >&2
  exit 2
}

while getopts 't:u:i:k:' option; do
  case "$option" in
    t) target=$OPTARG ;;
    u) user=$OPTARG ;;
    i) key=$OPTARG ;;
    k) known_hosts=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ -n "$target" ] && [ $# -eq 1 ] || usage
hosts_file=$1
[ -r "$hosts_file" ] || { echo "sequential-update.sh: cannot read $hosts_file" >&2; exit 2; }

ssh_options=(-o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10)
[ -n "$key" ] && ssh_options+=(-i "$key" -o IdentitiesOnly=yes)
[ -n "$known_hosts" ] && ssh_options+=(-o UserKnownHostsFile="$known_hosts" -o GlobalKnownHostsFile=/dev/null)

now_ms() {
  date +%s%3N
}

failed=()
started=$(now_ms)
while read -r address boards; do
  case "$address" in '' | '#'*) continue ;; esac
  read -r -a board_list <<<"${boards%%#*}"
  # ssh hands the remote shell one string: quote every word for it.
  remote="bash -s --$(printf ' %q' "$target" "${board_list[@]}")"
  echo "== $address: updating to $target (${board_list[*]})"
  host_started=$(now_ms)
  ssh "${ssh_options[@]}" "$user@$address" "$remote" <"$here/update-printer.sh"
  code=$?
  echo "host $address exit=$code ms=$(($(now_ms) - host_started))"
  [ "$code" -eq 0 ] || failed+=("$address")
done <"$hosts_file"

echo "all hosts: ms=$(($(now_ms) - started)) failed=${#failed[@]}${failed[*]:+ (${failed[*]})}"
[ ${#failed[@]} -eq 0 ]
