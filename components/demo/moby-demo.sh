#!/bin/sh
# The demo service: proves it can reach the mounted storage and the network, then idles.
# DATA (default /data) is where the storage is bound in.
data=${DATA:-/data}
echo "demo: started"
stamp="$data/demo-$(hostname)"
if [ -d "$data" ] && date > "$stamp" 2>/dev/null && [ -s "$stamp" ]; then
	fs=$(awk -v p="$data" '$2 == p {print $1 " " $3}' /proc/mounts | tail -n 1)
	echo "demo: storage ok ($data on ${fs:-the root filesystem}, wrote ${stamp##*/})"
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
while :; do
	sleep 3600
done
