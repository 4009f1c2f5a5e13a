# moby-init: running LinuxKit-style container bundles with runc (sourced by rc.init and
# rc.shutdown; busybox ash).
#
# A bundle is /containers/<stage>/<name>/ with config.json, runtime.json and rootfs/ (plus
# lower/ and tmp/ for read-write containers). Before `runc run`, runtime.json's mkdir, cgroups
# and mounts (tmpfs, remount private, overlay or bind for the root filesystem, and any others
# from the image label) are done here, as LinuxKit's `service` tool does; its interfaces and
# bindNS are not supported and are reported. Mounts are undone when an onboot or onshutdown
# container exits, and for services at shutdown.

MOBY_STATE=/run/moby-init
# Where service output is copied (tests point it elsewhere).
MOBY_CONSOLE=${MOBY_CONSOLE:-/dev/console}
RUNC_ROOT=/run/runc
US=$(printf '\037')

log() { echo "moby-init: $*"; }

runc_() { runc --root "$RUNC_ROOT" "$@"; }

# The value of KEY=VALUE on the kernel command line (empty if absent).
cmdline_value() {
	for word in $(cat /proc/cmdline 2>/dev/null); do
		case "$word" in "$1"=*) echo "${word#*=}" ;; esac
	done
}

# mount_one DESTINATION TYPE SOURCE OPTIONS (comma separated), as LinuxKit's prepareFilesystem:
# propagation flags (private, rshared, ...) are applied with a separate call after the mount.
mount_one() {
	dest=$1 type=$2 src=$3 opts=$4
	mkdir -p "$dest"
	prop="" rest="" remount=""
	for o in $(echo "$opts" | tr ',' ' '); do
		case "$o" in
		shared | rshared | private | rprivate | slave | rslave | unbindable | runbindable)
			prop="$prop $o" ;;
		remount) remount=1 ;;
		upperdir=* | workdir=*)
			mkdir -p "${o#*=}"
			rest="$rest,$o" ;;
		*) rest="$rest,$o" ;;
		esac
	done
	rest=${rest#,}
	if [ -n "$remount" ]; then
		if [ -n "$rest" ]; then
			mount -o "remount,$rest" "$dest" || return 1
		fi
	elif [ -n "$type" ] || [ -n "$src" ] || [ -n "$rest" ]; then
		mount ${type:+-t "$type"} ${rest:+-o "$rest"} "${src:-none}" "$dest" || return 1
	fi
	for p in $prop; do
		mount --make-"$p" "$dest" || return 1
	done
	return 0
}

# prepare_bundle DIR NAME: do what runtime.json asks before runc starts the container.
prepare_bundle() {
	dir=$1 name=$2
	mkdir -p "$MOBY_STATE"
	: > "$MOBY_STATE/$name.mounts"
	[ -f "$dir/runtime.json" ] || return 0
	if ! awk -f /etc/moby-init/runtime-json.awk "$dir/runtime.json" > "$MOBY_STATE/$name.runtime"; then
		log "$name: cannot read runtime.json: $(cut -d "$US" -f2 "$MOBY_STATE/$name.runtime")"
		return 1
	fi
	while IFS="$US" read -r kind a b c d; do
		case "$kind" in
		mkdir) mkdir -p "$a" ;;
		cgroup) mkdir -p "/sys/fs/cgroup/${a#/}" ;;
		mount)
			if ! mount_one "$a" "$b" "$c" "$d"; then
				log "$name: mounting $a (${b:-bind} ${c} ${d}) failed"
				return 1
			fi
			echo "$a" >> "$MOBY_STATE/$name.mounts" ;;
		unsupported) log "$name: runtime.$a is not supported by moby-init; ignored" ;;
		esac
	done < "$MOBY_STATE/$name.runtime"
	return 0
}

# cleanup_bundle NAME: unmount what prepare_bundle mounted, last first.
cleanup_bundle() {
	name=$1
	[ -f "$MOBY_STATE/$name.mounts" ] || return 0
	for dest in $(sed -n '1!G;h;$p' "$MOBY_STATE/$name.mounts"); do
		umount "$dest" 2>/dev/null
	done
	rm -f "$MOBY_STATE/$name.mounts" "$MOBY_STATE/$name.runtime"
}

# run_to_completion STAGE: run every /containers/STAGE/* in order, each until it exits.
run_to_completion() {
	stage=$1
	for dir in /containers/"$stage"/*; do
		[ -f "$dir/config.json" ] || continue
		name=${dir##*/}
		log "$stage $name start"
		if prepare_bundle "$dir" "$name"; then
			runc_ run --bundle "$dir" "$name" < /dev/null
			status=$?
		else
			status=125
		fi
		log "$stage $name exit $status"
		runc_ delete -f "$name" > /dev/null 2>&1
		cleanup_bundle "$name"
	done
}

# Copies a service's output to the console (prefixed with its name) and to /var/log/NAME.log.
log_lines() {
	while IFS= read -r line; do
		echo "$1: $line" >> "$MOBY_CONSOLE"
		echo "$line" >> "/var/log/$1.log"
	done
}

# start_services: start every /containers/services/* detached.
start_services() {
	mkdir -p /var/log
	for dir in /containers/services/*; do
		[ -f "$dir/config.json" ] || continue
		name=${dir##*/}
		if ! prepare_bundle "$dir" "$name"; then
			log "service $name failed (runtime.json)"
			continue
		fi
		fifo="$MOBY_STATE/$name.out"
		rm -f "$fifo"
		mkfifo "$fifo"
		log_lines "$name" < "$fifo" &
		runc_ run --detach --bundle "$dir" "$name" < /dev/null > "$fifo" 2>&1
		status=$?
		if [ "$status" = 0 ]; then
			log "service $name started"
		else
			log "service $name failed (exit $status)"
			runc_ delete -f "$name" > /dev/null 2>&1
			cleanup_bundle "$name"
		fi
	done
}

# stop_services: TERM every service, KILL what is left after a few seconds, then clean up.
stop_services() {
	for dir in /containers/services/*; do
		[ -f "$dir/config.json" ] || continue
		runc_ kill "${dir##*/}" TERM > /dev/null 2>&1
	done
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		running=$(runc_ list -q 2>/dev/null | while read -r id; do
			[ "$(runc_ state "$id" 2>/dev/null | sed -n 's/.*"status": "\([a-z]*\)".*/\1/p')" = running ] && echo "$id"
		done)
		[ -z "$running" ] && break
		sleep 0.5
	done
	for dir in /containers/services/*; do
		[ -f "$dir/config.json" ] || continue
		name=${dir##*/}
		runc_ kill "$name" KILL > /dev/null 2>&1
		runc_ delete -f "$name" > /dev/null 2>&1
		cleanup_bundle "$name"
		log "service $name stopped"
	done
}
