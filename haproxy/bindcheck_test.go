package haproxy

import (
	"bufio"
	"net/netip"
	"strings"
	"testing"
)

func TestParseProcNetTCP(t *testing.T) {
	const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0
   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1235 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F90 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000     0        0 1236 1 0000000000000000 100 0 0 10 0
`
	const tcp6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2000 1 0000000000000000 100 0 0 10 0
   1: B80D0120000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000000000000 100 0 0 10 0
`
	var got []string
	for _, text := range []string{tcp, tcp6} {
		ss, err := parseProcNetTCP(bufio.NewScanner(strings.NewReader(text)))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			got = append(got, s.addr.String()+" "+s.inode)
		}
	}
	want := []string{"127.0.0.1:8080 1234", "0.0.0.0:80 1235", "[::]:443 2000", "[2001:db8::1]:80 2001"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("listeners %v, want %v (the established row skipped)", got, want)
	}
}

func TestConflicts(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		bind string
		l    netip.AddrPort
		want bool
	}{
		{"127.0.0.1:8080", ap("127.0.0.1:8080"), true},
		{"127.0.0.1:8081", ap("127.0.0.1:8080"), false},
		{"127.0.0.2:8080", ap("127.0.0.1:8080"), false},
		{"*:8080", ap("127.0.0.1:8080"), true},
		{"127.0.0.1:8080", ap("0.0.0.0:8080"), true},
		{"[2001:db8::1]:80", ap("0.0.0.0:80"), false},
		{"[2001:db8::1]:80", ap("[::]:80"), true},
		{"127.0.0.1:80", ap("[::]:80"), false}, // V6ONLY unknown: never refused wrongly
		{":::80", ap("0.0.0.0:80"), true},
		{"127.0.0.1:8000-8010", ap("127.0.0.1:8005"), true},
		{"127.0.0.1:${PORT}", ap("127.0.0.1:8005"), false},
	} {
		as := ParseBindAddrs(tc.bind)
		if len(as) != 1 {
			t.Fatalf("%s: %d addresses", tc.bind, len(as))
		}
		if got := conflicts(as[0], tc.l); got != tc.want {
			t.Errorf("bind %s, listener %s: conflict %v, want %v", tc.bind, tc.l, got, tc.want)
		}
	}
}
