#!/bin/bash
# Runs a command chrooted into the rehearsal's root file system with /proc, /sys, /dev and /run mounted, as
# cloud-init would run the user data on a booted instance. Started by run.ts as
#   unshare --mount --propagation private --pid --fork --kill-child -- in-chroot.sh <root> <command…>
# so the mounts exist only in a private mount namespace and every process started inside (a daemon a package
# started, a stray tee) is killed with this script, PID 1 of its own PID namespace: nothing leaks onto the host,
# even when the runner is killed. The mounts are still undone on the way out, for the record.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: in-chroot.sh <root> <command> [args…]" >&2
  exit 2
fi
root=$1
shift
if [ "$$" -ne 1 ]; then
  echo "in-chroot.sh: must run as PID 1 of a new PID namespace (unshare --mount --pid --fork)" >&2
  exit 2
fi
mounted=()
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount -R "${mounted[$i]}" 2>/dev/null || umount -Rl "${mounted[$i]}" || true
  done
}
trap cleanup EXIT
mount --make-rprivate /
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount -t sysfs -o ro sysfs "$root/sys" && mounted+=("$root/sys")
mount --rbind /dev "$root/dev" && mounted+=("$root/dev")
mount -t tmpfs -o mode=755 tmpfs "$root/run" && mounted+=("$root/run")
status=0
chroot "$root" "$@" || status=$?
# Let processes the command left behind (the boot log's tee) finish writing before the namespace ends them.
for _ in $(seq 50); do
  others=()
  for p in "$root"/proc/[0-9]*; do
    [ "${p##*/}" = 1 ] || others+=("${p##*/}")
  done
  [ ${#others[@]} -eq 0 ] && break
  sleep 0.1
done
for p in "${others[@]}"; do
  echo "in-chroot.sh: still running, killed with the namespace: $(tr '\0' ' ' <"$root/proc/$p/cmdline" 2>/dev/null || true)" >&2
done
exit "$status"
