#!/bin/sh
# The demo service: proves it can reach the mounted storage and the network, then idles until
# SIGTERM. It keeps a journal on the storage (one line per boot, and per clean shutdown when
# `moby-demo shutdown` runs as an onshutdown container), so a boot from the same disk shows
# what the earlier boots left there.
# DATA (default /data) is where the storage is bound in.
data=${DATA:-/data}
journal="$data/demo.journal"

# The number of "boot N" lines in the journal (0 without one).
boots() { awk '/^boot / {n++} END {print n + 0}' "$journal" 2>/dev/null || echo 0; }

if [ "$1" = shutdown ]; then
	# The onshutdown side: record a clean shutdown for the next boot to find.
	n=$(boots)
	if echo "clean shutdown after boot $n" >> "$journal" 2>/dev/null; then
		sync
		echo "demo: recorded a clean shutdown after boot $n in $journal"
		exit 0
	fi
	echo "demo: shutdown record FAILED ($journal is not writable)"
	exit 1
fi

# PID 1 of a PID namespace ignores signals it has no handler for: without this trap the
# service would only stop when moby-init gives up and kills it.
trap 'echo "demo: stopping"; exit 0' TERM INT

echo "demo: started"
stamp="$data/demo-$(hostname)"
if [ -d "$data" ] && date > "$stamp" 2>/dev/null && [ -s "$stamp" ]; then
	fs=$(awk -v p="$data" '$2 == p {print $1 " " $3}' /proc/mounts | tail -n 1)
	echo "demo: storage ok ($data on ${fs:-the root filesystem}, wrote ${stamp##*/})"
	earlier=$(boots)
	last=$(tail -n 1 "$journal" 2>/dev/null)
	echo "boot $((earlier + 1))" >> "$journal"
	sync
	if [ "$earlier" = 0 ]; then
		echo "demo: boot 1 on this storage (no journal from earlier boots)"
	else
		echo "demo: boot $((earlier + 1)) on this storage (journal from earlier boots, last: $last)"
	fi
else
	echo "demo: storage FAILED ($data is not writable)"
fi
addr=$(ip -4 -o addr show scope global | awk '{print $2 " " $4; exit}')
gateway=$(ip -4 route show default | awk '{print $3; exit}')
if [ -n "$addr" ]; then
	echo "demo: network ok ($addr, gateway ${gateway:-none})"
else
	echo "demo: network FAILED (no global IPv4 address)"
fi
# Sleep in the background so the trap runs as soon as the signal arrives.
while :; do
	sleep 3600 &
	wait $!
done
