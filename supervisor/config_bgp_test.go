package supervisor

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const bgpOnly = `haproxy: {mode: external}
bgp:
  asn: 65001
  router_id: 192.0.2.11
  neighbors:
    - {address: 192.0.2.1, asn: 65000, bfd: {interval: 50ms}}
    - {address: "2001:db8::1", asn: 65000, hold_time: 30s}
  prefixes:
    - {prefix: 198.51.100.10/32, communities: ["65001:100"], med: 10}
    - {prefix: "2001:db8:100::10/128"}
`

// A halo.yaml with a bgp section and no VRRP instance runs BGP alone; defaults fill in.
func TestBGPOnlyConfig(t *testing.T) {
	c, err := ParseConfig("halo.yaml", []byte(bgpOnly))
	if err != nil {
		t.Fatal(err)
	}
	b := c.BGP
	if b == nil {
		t.Fatal("bgp section not decoded")
	}
	if b.Interface != "lo" || b.ListenPort != 0 || b.DrainTime() != 5*time.Second {
		t.Errorf("section defaults: %+v", b)
	}
	n0, n1 := b.Neighbors[0], b.Neighbors[1]
	if n0.Port != 179 || n0.HoldTime != 9*time.Second || !n0.BFDOn() || n0.BFD.Interval != 50*time.Millisecond || n0.BFD.Multiplier != 3 {
		t.Errorf("neighbour 0 defaults: %+v %+v", n0, n0.BFD)
	}
	if n1.BFDOn() || n1.HoldTime != 30*time.Second {
		t.Errorf("neighbour 1: %+v", n1)
	}
}

func TestBGPConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		bgp  string
		want []string // each must appear in one problem, in this order of lines
	}{
		{"missing everything", "bgp: {}\n", []string{
			"halo.yaml:1: bgp.asn: required", "halo.yaml:1: bgp.router_id: required",
			"bgp.neighbors: at least one", "bgp.prefixes: at least one"}},
		{"bad values", `bgp:
  asn: 65001
  router_id: 2001:db8::1
  listen_port: 70000
  drain: 11m
  neighbors:
    - address: 192.0.2.1
      asn: 65000
      hold_time: 2s
      bfd: {interval: 5ms, multiplier: 1}
    - {address: 192.0.2.1, asn: 65000}
  prefixes:
    - {prefix: 198.51.100.0/24}
    - {prefix: 198.51.100.10/32, communities: ["65536:1", "65535:0", "x"]}
    - {prefix: "2001:db8::10/128"}
`, []string{
			`halo.yaml:3: bgp.router_id: "2001:db8::1": must be an IPv4 address`,
			"halo.yaml:4: bgp.listen_port: 70000 not in 0..65535",
			"halo.yaml:5: bgp.drain: 11m0s not in 0s..10m0s",
			"halo.yaml:9: bgp.neighbors[0].hold_time: 2s: whole seconds from 3s",
			"halo.yaml:10: bgp.neighbors[0].bfd.interval: 5ms",
			"halo.yaml:10: bgp.neighbors[0].bfd.multiplier: 1 not in 2..255",
			"halo.yaml:11: bgp.neighbors[1].address: 192.0.2.1 already names neighbors[0]",
			"halo.yaml:13: bgp.prefixes[0].prefix: 198.51.100.0/24: a service address is a host route",
			`halo.yaml:14: bgp.prefixes[1].communities[0]: "65536:1": both parts`,
			"halo.yaml:14: bgp.prefixes[1].communities[1]: 65535:0 is GRACEFUL_SHUTDOWN",
			`halo.yaml:14: bgp.prefixes[1].communities[2]: "x": want ASN:value`,
			"halo.yaml:15: bgp.prefixes[2].prefix: 2001:db8::10/128: no IPv6 neighbour",
		}},
		{"unknown key", "bgp:\n  asn: 65001\n  neighbours: []\n", []string{`halo.yaml:3: unknown key "neighbours"`}},
		{"explicit zero", "bgp:\n  asn: 65001\n  neighbors: [{address: 192.0.2.1, asn: 1, hold_time: 0s}]\n", []string{
			"halo.yaml:3: bgp.neighbors[0].hold_time: 0 is out of range"}},
		{"fractional asn", "bgp:\n  asn: 65001.5\n", []string{"halo.yaml:2: bgp.asn: 65001.5 is not an integer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("halo.yaml", []byte(tt.bgp))
			if err == nil {
				t.Fatal("accepted")
			}
			var got []string
			for _, p := range Problems(err) {
				got = append(got, p.Error())
			}
			i := 0
			for _, g := range got {
				if i < len(tt.want) && strings.Contains(g, tt.want[i]) {
					i++
				}
			}
			if i < len(tt.want) {
				t.Errorf("missing %q in order; problems:\n%s", tt.want[i], strings.Join(got, "\n"))
			}
		})
	}
}

// A drain of 0s is a choice (withdraw at once), not "use the default".
func TestBGPZeroDrain(t *testing.T) {
	c, err := ParseConfig("halo.yaml", []byte(strings.Replace(bgpOnly, "  asn: 65001\n", "  asn: 65001\n  drain: 0s\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(time.Duration(0), c.BGP.DrainTime()); diff != "" {
		t.Errorf("drain (-want +got):\n%s", diff)
	}
}
