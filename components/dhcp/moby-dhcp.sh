#!/bin/sh
# DHCP on one network interface, then exit (an onboot container; the lease is not renewed).
# The interface is the first argument, else the Ethernet interface the kernel registered
# first. The address, the default route and /run/resolvconf/resolv.conf are set by
# /usr/share/udhcpc/default.script.
iface=$1

first_ethernet() {
	for dev in /sys/class/net/*; do
		[ "$(cat "$dev/type" 2>/dev/null)" = 1 ] || continue
		echo "$(cat "$dev/ifindex") ${dev##*/}"
	done | sort -n | head -n 1 | cut -d' ' -f2
}

if [ -z "$iface" ]; then
	# The driver may still be probing: wait up to 10 s for an interface to appear.
	for _ in $(seq 1 100); do
		iface=$(first_ethernet)
		[ -n "$iface" ] && break
		sleep 0.1
	done
fi
if [ -z "$iface" ]; then
	echo "dhcp: no network interface"
	exit 1
fi
echo "dhcp: requesting an address on $iface"
ip link set "$iface" up
exec udhcpc -i "$iface" -f -q -n -t 10 -T 2 -s /usr/share/udhcpc/default.script
