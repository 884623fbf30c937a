#!/bin/sh
# capture.sh regenerates the keepalived test vectors in this directory: it runs Debian's
# keepalived in a private network namespace (documentation-range addresses only), captures
# its adverts with tcpdump and writes one pcap per instance. Run as root from vrrp/testdata.
# Nothing is created in the root namespace; keepalived is ended by its recorded PID.
set -eu
ns="hv-cap-$$"
dir=$(mktemp -d)
kpid=""
cleanup() {
	[ -n "$kpid" ] && kill "$kpid" 2>/dev/null || true
	[ -n "$kpid" ] && wait "$kpid" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
ip -n "$ns" link add veth0 type veth peer name veth1
ip -n "$ns" link set veth0 address 02:00:00:00:00:01
ip -n "$ns" addr add 192.0.2.11/24 dev veth0
ip -n "$ns" addr add 2001:db8::11/64 dev veth0 nodad
ip -n "$ns" link set veth0 up
ip -n "$ns" link set veth1 up

cat >"$dir/keepalived.conf" <<'CONF'
global_defs {
	router_id halo_vectors
	enable_script_security
	vrrp_garp_master_repeat 1
	vrrp_garp_master_delay 0
}
vrrp_instance V2_PASS {
	state MASTER
	interface veth0
	virtual_router_id 51
	version 2
	priority 150
	advert_int 1
	authentication {
		auth_type PASS
		auth_pass s3cret
	}
	virtual_ipaddress {
		192.0.2.100/24
		192.0.2.101/24
	}
}
vrrp_instance V3_IPV4 {
	state MASTER
	interface veth0
	virtual_router_id 52
	version 3
	priority 120
	advert_int 0.5
	virtual_ipaddress {
		192.0.2.102/24
	}
}
vrrp_instance V3_IPV6 {
	state MASTER
	interface veth0
	virtual_router_id 53
	version 3
	priority 200
	advert_int 1
	virtual_ipaddress {
		2001:db8::100/64
		2001:db8::101/64
	}
}
CONF

ip netns exec "$ns" tcpdump -i veth0 -U -w "$dir/all.pcap" 'ip proto 112 or ip6 proto 112' 2>"$dir/tcpdump.log" &
tpid=$!
ip netns exec "$ns" keepalived -n -l -D -f "$dir/keepalived.conf" -p "$dir/k.pid" -r "$dir/v.pid" >"$dir/keepalived.log" 2>&1 &
kpid=$!
sleep 6
kill "$kpid"; wait "$kpid" 2>/dev/null || true; kpid=""
sleep 1
kill "$tpid"; wait "$tpid" 2>/dev/null || true
cat "$dir/keepalived.log" >&2
tcpdump -r "$dir/all.pcap" -w keepalived-v2-pass.pcap 'ip proto 112 and ip[21] == 51' 2>/dev/null
tcpdump -r "$dir/all.pcap" -w keepalived-v3-ipv4.pcap 'ip proto 112 and ip[21] == 52' 2>/dev/null
tcpdump -r "$dir/all.pcap" -w keepalived-v3-ipv6.pcap 'ip6 proto 112' 2>/dev/null
tcpdump -nn -v -r "$dir/all.pcap" >&2
