#!/bin/sh
# moby-format DEVICE [FSTYPE [LABEL]]: make a filesystem (ext4 by default) on DEVICE unless it
# already has one. Waits up to 10 s for the device node to appear.
dev=$1
fstype=${2:-ext4}
label=$3
if [ -z "$dev" ]; then
	echo "format: usage: moby-format DEVICE [FSTYPE [LABEL]]"
	exit 2
fi
for _ in $(seq 1 100); do
	[ -b "$dev" ] && break
	sleep 0.1
done
if [ ! -b "$dev" ]; then
	echo "format: $dev is not a block device"
	exit 1
fi
existing=$(/sbin/blkid -o value -s TYPE "$dev" 2>/dev/null)
if [ -n "$existing" ]; then
	echo "format: $dev already has a filesystem ($existing); leaving it alone"
	exit 0
fi
echo "format: making an $fstype filesystem on $dev"
# Absolute paths: busybox sh would run its own (ext2-only) mke2fs applet otherwise.
if /sbin/mke2fs -q -F -t "$fstype" ${label:+-L "$label"} "$dev"; then
	echo "format: $dev formatted ($fstype)"
else
	status=$?
	echo "format: mke2fs failed on $dev (exit $status)"
	exit "$status"
fi
