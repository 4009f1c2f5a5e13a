# Reads a LinuxKit runtime.json and prints what moby-init must do before `runc run`, one
# record per line, fields separated by the ASCII unit separator (\037) so empty fields survive:
#
#   mkdir<US>PATH
#   cgroup<US>PATH
#   mount<US>DESTINATION<US>TYPE<US>SOURCE<US>OPTION,OPTION,...
#   unsupported<US>FIELD          (interfaces, bindNS: not handled by moby-init)
#   error<US>MESSAGE              (not JSON)
#
# A small recursive-descent JSON parser (busybox awk has no JSON support): values are kept
# in V[path] with paths like ".mounts.0.options.1"; N[path] is the length of an array.

function fail(msg) {
	if (!failed) printf "error%s%s at byte %d\n", US, msg, pos
	failed = 1
	pos = n + 1
}

function skip_ws() {
	while (pos <= n && index(" \t\r\n", substr(text, pos, 1)) > 0) pos++
}

function hexval(h,    i, c, v) {
	v = 0
	for (i = 1; i <= length(h); i++) {
		c = index("0123456789abcdef", tolower(substr(h, i, 1)))
		if (c == 0) return -1
		v = v * 16 + c - 1
	}
	return v
}

function parse_string(    s, c, code) {
	if (substr(text, pos, 1) != "\"") { fail("expected a string"); return "" }
	pos++
	s = ""
	while (pos <= n) {
		c = substr(text, pos, 1)
		if (c == "\"") { pos++; return s }
		if (c == "\\") {
			pos++
			c = substr(text, pos, 1)
			if (c == "n") s = s "\n"
			else if (c == "t") s = s "\t"
			else if (c == "r") s = s "\r"
			else if (c == "b" || c == "f") s = s ""
			else if (c == "u") {
				code = hexval(substr(text, pos + 1, 4))
				# Go escapes <, > and & this way; anything beyond ASCII is not a path we use.
				if (code > 0 && code < 128) s = s sprintf("%c", code)
				else s = s "?"
				pos += 4
			} else s = s c
			pos++
			continue
		}
		s = s c
		pos++
	}
	fail("unterminated string")
	return s
}

function parse_value(path,    c, start) {
	skip_ws()
	c = substr(text, pos, 1)
	if (c == "{") { parse_object(path); return }
	if (c == "[") { parse_array(path); return }
	if (c == "\"") { V[path] = parse_string(); return }
	start = pos
	while (pos <= n && index(",}] \t\r\n", substr(text, pos, 1)) == 0) pos++
	if (pos == start) { fail("expected a value"); return }
	V[path] = substr(text, start, pos - start)
}

function parse_object(path,    key, c) {
	pos++
	skip_ws()
	if (substr(text, pos, 1) == "}") { pos++; return }
	while (pos <= n) {
		skip_ws()
		key = parse_string()
		skip_ws()
		if (substr(text, pos, 1) != ":") { fail("expected ':'"); return }
		pos++
		parse_value(path "." key)
		skip_ws()
		c = substr(text, pos, 1)
		pos++
		if (c == "}") return
		if (c != ",") { fail("expected ',' or '}'"); return }
	}
}

function parse_array(path,    i, c) {
	pos++
	i = 0
	N[path] = 0
	skip_ws()
	if (substr(text, pos, 1) == "]") { pos++; return }
	while (pos <= n) {
		parse_value(path "." i)
		i++
		N[path] = i
		skip_ws()
		c = substr(text, pos, 1)
		pos++
		if (c == "]") return
		if (c != ",") { fail("expected ',' or ']'"); return }
	}
}

BEGIN { US = sprintf("%c", 31) }

{ text = text $0 "\n" }

END {
	n = length(text)
	pos = 1
	skip_ws()
	if (substr(text, pos, 1) != "{") fail("runtime.json is not a JSON object")
	else parse_value("")
	if (failed) exit 1
	for (i = 0; i < N[".mkdir"] + 0; i++) print "mkdir" US V[".mkdir." i]
	for (i = 0; i < N[".cgroups"] + 0; i++) print "cgroup" US V[".cgroups." i]
	for (i = 0; i < N[".mounts"] + 0; i++) {
		p = ".mounts." i
		opts = ""
		for (j = 0; j < N[p ".options"] + 0; j++) opts = opts (j ? "," : "") V[p ".options." j]
		print "mount" US V[p ".destination"] US V[p ".type"] US V[p ".source"] US opts
	}
	if (N[".interfaces"] + 0 > 0) print "unsupported" US "interfaces"
	for (key in V) {
		if (index(key, ".bindNS.") == 1 && V[key] != "") { print "unsupported" US "bindNS"; break }
	}
}
