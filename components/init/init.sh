#!/bin/sh
# moby-init, stage 0: the kernel runs /init from the initramfs.
#
# runc cannot pivot_root out of the initramfs (the kernel's rootfs cannot be unmounted), so,
# as LinuxKit's init does, copy the root into a fresh tmpfs, switch to it and start
# busybox init (/sbin/init, configured by /etc/inittab). Hard links become copies.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { echo "moby-init: $*"; }

# Only PID 1 may switch_root; anything else (a test, a chroot) goes straight to the real init.
if [ "$$" != 1 ]; then
	exec /sbin/init "$@"
fi

mkdir -p /proc
mount -t proc proc /proc
case "$(stat -f -c %T / 2>/dev/null)" in
ramfs | tmpfs) ;;
*)
	# Booted from a disk or an ISO: the root can already be pivoted away from.
	umount /proc
	exec /sbin/init "$@"
	;;
esac

NEW=/.moby-root
size=$(sed -n 's/.*moby\.rootsize=\([^ ]*\).*/\1/p' /proc/cmdline)
mkdir -p "$NEW"
if ! mount -t tmpfs -o "mode=0755${size:+,size=$size}" tmpfs "$NEW"; then
	log "cannot mount a tmpfs for the root; staying in the initramfs (runc will need --no-pivot)"
	umount /proc
	exec /sbin/init "$@"
fi
for entry in /* /.[!.]*; do
	case "$entry" in
	/proc | /sys | /dev | "$NEW" | "/.[!.]*") continue ;;
	esac
	[ -e "$entry" ] || [ -L "$entry" ] || continue
	cp -a "$entry" "$NEW/" || log "copying $entry into the new root failed"
done
mkdir -p "$NEW/proc" "$NEW/sys" "$NEW/dev"
log "root moved from the initramfs into a tmpfs"
umount /proc
exec switch_root "$NEW" /sbin/init "$@"
