#!/bin/sh
# moby-init, stage 2 (busybox init's shutdown action, on `poweroff`, `reboot` or
# Ctrl-Alt-Del): run the onshutdown containers in order, stop the services, unmount what
# can be unmounted, and sync. busybox init then kills what is left and powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
. /etc/moby-init/containers.sh

log "shutting down"
run_to_completion onshutdown
stop_services
# Unmount everything but the pseudo-filesystems, innermost first, so data reaches the disks.
for target in $(awk '{print $2}' /proc/mounts | sed -n '1!G;h;$p'); do
	case "$target" in
	/ | /proc | /proc/* | /sys | /sys/* | /dev | /dev/*) continue ;;
	esac
	umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null
done
sync
log "poweroff"
