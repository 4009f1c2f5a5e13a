#!/bin/sh
# moby-mount DEVICE PATH [FSTYPE]: mount DEVICE at PATH. PATH is bound from the host with
# shared propagation, so the mount is visible to the host and to later containers.
dev=$1
path=$2
fstype=$3
if [ -z "$dev" ] || [ -z "$path" ]; then
	echo "mount: usage: moby-mount DEVICE PATH [FSTYPE]"
	exit 2
fi
for _ in $(seq 1 100); do
	[ -b "$dev" ] && break
	sleep 0.1
done
mkdir -p "$path"
if grep -q "^$dev $path " /proc/mounts; then
	echo "mount: $dev is already mounted at $path"
	exit 0
fi
if mount ${fstype:+-t "$fstype"} "$dev" "$path"; then
	echo "mount: $dev mounted at $path ($(grep "^$dev $path " /proc/mounts | cut -d' ' -f3))"
else
	status=$?
	echo "mount: mounting $dev at $path failed (exit $status)"
	exit "$status"
fi
