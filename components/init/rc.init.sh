#!/bin/sh
# moby-init, stage 1 (busybox init's sysinit action): mount the pseudo-filesystems and
# cgroup2, load kernel modules, run /etc/init.d/*, then the onboot containers in order to
# completion and the services detached. Every step is logged to the console as
# "moby-init: ...".
#
# Kernel command line switches:
#   moby.modules=a,b     load these modules too (besides /etc/moby-init/modules and coldplug)
#   moby.poweroff=N      power off N seconds after the services started (tests, CI)
#   moby.rootsize=SIZE   size of the root tmpfs (stage 0, /init)
# Any process may request a clean power off by creating /run/moby-init/poweroff (bind
# /run/moby-init into a container to let it do so), or run `poweroff` with the host PID
# namespace.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
. /etc/moby-init/containers.sh

log "starting on $(uname -sr)"

mkdir -p /proc /sys /dev /run /tmp /var
mountpoint_() { grep -q " $1 " /proc/mounts 2>/dev/null; }
mountpoint_ /proc || mount -t proc -o nosuid,nodev,noexec proc /proc
mountpoint_ /sys || mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mountpoint_ /dev || mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o nosuid,noexec,gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev,mode=1777 shm /dev/shm
mount -t mqueue -o nosuid,nodev,noexec mqueue /dev/mqueue 2>/dev/null
mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /run
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp
mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /var
mkdir -p /var/log /var/lib /var/cache /var/tmp /run/resolvconf "$MOBY_STATE" "$RUNC_ROOT"
ln -sf /run /var/run
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
# Let containers have resource limits: delegate every controller the kernel offers.
for controller in $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null); do
	echo "+$controller" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
done
# Bind mounts with shared propagation (the mount container) need a shared root.
mount --make-rshared / 2>/dev/null || mount -o rshared /
log "mounted /proc /sys /dev /run /tmp /var and cgroup2"

hostname -F /etc/hostname 2>/dev/null || hostname moby
ip link set lo up 2>/dev/null

# Kernel modules: the ones listed, then coldplug (drivers for the devices the kernel found;
# twice, because virtio_pci reveals the virtio devices).
if [ -d "/lib/modules/$(uname -r)" ]; then
	wanted="$(grep -v '^#' /etc/moby-init/modules 2>/dev/null) $(cmdline_value moby.modules | tr ',' ' ')"
	for module in $wanted; do
		modprobe "$module" 2>/dev/null || log "module $module could not be loaded"
	done
	for _ in 1 2; do
		aliases=$(cat /sys/bus/*/devices/*/modalias 2>/dev/null | sort -u)
		[ -n "$aliases" ] && modprobe -a -q $aliases 2>/dev/null
	done
	log "modules loaded: $(cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ')"
else
	log "no modules for kernel $(uname -r)"
fi

for script in /etc/init.d/*; do
	[ -x "$script" ] || continue
	log "running $script"
	"$script" || log "$script failed (exit $?)"
done

run_to_completion onboot
start_services
log "boot complete"

# Power off on request: a file, or a delay from the kernel command line.
delay=$(cmdline_value moby.poweroff)
(
	waited=0
	while :; do
		if [ -e "$MOBY_STATE/poweroff" ]; then
			log "power off requested"
			exec poweroff
		fi
		if [ -n "$delay" ] && [ "$waited" -ge "$delay" ]; then
			log "power off after ${delay}s (moby.poweroff)"
			exec poweroff
		fi
		sleep 1
		waited=$((waited + 1))
	done
) < /dev/null > /dev/console 2>&1 &
exit 0
