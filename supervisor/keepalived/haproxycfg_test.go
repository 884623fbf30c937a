package keepalived

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/halo-lb/halo/haproxy"
)

func TestParseBind(t *testing.T) {
	got := haproxy.ParseBindAddrs("192.0.2.1:80,:443,*:8080,ipv6@:::80,[2001:db8::5]:443,unix@/run/x.sock,/run/y.sock,${VIP}:80")
	var s []string
	for _, b := range got {
		switch {
		case b.Addr.IsValid():
			s = append(s, b.Addr.String())
		case b.Any6:
			s = append(s, "any4+6")
		default:
			s = append(s, "any4")
		}
	}
	if diff := cmp.Diff([]string{"192.0.2.1", "any4", "any4", "any4+6", "2001:db8::5"}, s); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got[0].Addr != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("addr %v", got[0].Addr)
	}
}

func TestHAProxyConfig(t *testing.T) {
	dir := t.TempDir()
	hc := filepath.Join(dir, "haproxy.cfg")
	cfg := "global\n    stats socket /run/haproxy/plain.sock mode 660\n\nfrontend web\n    bind *:80\n    default_backend be\n\nbackend be\n    server a 10.0.0.1:80\n"
	if err := os.WriteFile(hc, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := writeConf(t, strings.Replace(minimal, "%s", "", 1)+"vrrp_instance V6 {\n interface eth0\n virtual_router_id 52\n virtual_ipaddress {\n 2001:db8::1/64\n }\n}\n")
	res, err := Import(conf, Options{HAProxyConfig: hc, HAProxyMode: haproxy.Managed})
	if err != nil {
		t.Fatal(err)
	}
	h := res.Config.HAProxy
	if h.Mode != haproxy.Managed || h.StatsSocket != "/run/haproxy/plain.sock" || h.Config[0] != hc {
		t.Errorf("haproxy section %+v", h)
	}
	if diff := cmp.Diff([]string{"web"}, h.Check.Frontends); diff != "" {
		t.Errorf("frontends (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"be": 1}, h.Check.Backends); diff != "" {
		t.Errorf("backends (-want +got):\n%s", diff)
	}
	if strings.Contains(string(res.YAML), "master_socket") {
		t.Error("managed mode must leave master_socket to halod's default")
	}
	var msgs []string
	for _, w := range res.Warnings {
		msgs = append(msgs, w.String())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		"haproxy.cfg:2: warning: stats socket /run/haproxy/plain.sock has no \"level admin\"",
		"keepalived.conf:13: warning: VIP 2001:db8::1 is not an address",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("messages:\n%s\nwant %q", all, want)
		}
	}
	if strings.Contains(all, "VIP 192.0.2.100 is not") {
		t.Error("a *:80 bind covers every IPv4 VIP")
	}
}
