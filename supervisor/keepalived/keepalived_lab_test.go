package keepalived

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/netlab"
	"github.com/halo-lb/halo/internal/poll"
	"github.com/halo-lb/halo/internal/tier"
)

// agreeConf has the shapes whose keepalived behaviour the importer states: a MASTER with
// nopreempt and preempt_delay, a VIP listed twice, a track_script line with a word
// keepalived does not know, and pidof checks with a positive weight: one of HAProxy, as
// operators write it, and one of keepalived itself, which a working pidof would find.
const agreeConf = `vrrp_script chk_haproxy {
    script "pidof haproxy"
    interval 1
    weight 20
}
vrrp_script chk_pidof {
    script "pidof keepalived"
    interval 1
    weight 20
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    nopreempt
    preempt_delay 5
    advert_int 1
    virtual_ipaddress {
        192.0.2.100/24
        192.0.2.100/24 label eth0:vip
    }
    track_script {
        chk_haproxy unknown_word
    }
    track_script {
        chk_haproxy
        chk_pidof
    }
}
`

// TestKeepalivedAgrees runs Debian's keepalived (2.2.7 on bookworm) on agreeConf in a
// network namespace and checks that it does what the importer's messages about the same
// file say it does: nopreempt and preempt_delay cleared, the unknown track_script line
// ignored, pidof run as killall5 and failing although keepalived itself runs (so the +20
// is never added), the repeated VIP held once with the first line's options. A keepalived
// that behaves otherwise (a fixed pidof resolution, say) fails this test, and the
// importer's messages must change with it.
func TestKeepalivedAgrees(t *testing.T) {
	tier.Root(t)
	bin := tier.Keepalived(t)
	l := netlab.New(t, netlab.Options{Nodes: 1, Networks: 1})
	n := l.Nodes[0]
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(agreeConf), 0o600); err != nil {
		t.Fatal(err)
	}

	res, err := Import(conf, Options{})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	var msgs []string
	for _, w := range res.Warnings {
		msgs = append(msgs, w.String())
	}
	imported := strings.Join(msgs, "\n")
	in := res.Config.VRRP.Instances[0]
	if !in.PreemptEnabled() || in.PreemptDelay != 0 || in.Priority != 150 || len(in.VIPs) != 1 || in.TrackHAProxy == nil || in.TrackHAProxy.Weight != -20 {
		t.Errorf("imported: preempt %v delay %s priority %d vips %v track %+v, want true, 0s, 150, one VIP, weight -20",
			in.PreemptEnabled(), in.PreemptDelay, in.Priority, in.VIPs, in.TrackHAProxy)
	}

	// -d dumps the configuration as keepalived resolved it; private PID files keep the
	// host's keepalived, if any, out of it.
	p, err := n.Start(bin, "-n", "-l", "-D", "-d", "-f", conf,
		"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(5 * time.Second)
	poll.Until(t, 15*time.Second, "keepalived to run chk_pidof and hold the VIP", func() error {
		if !strings.Contains(p.Output(), "Script `chk_pidof` now returning") {
			return fmt.Errorf("chk_pidof not run yet")
		}
		out, err := n.Exec(t.Context(), "ip", "-o", "-4", "addr", "show", "dev", "eth0")
		if err != nil || !strings.Contains(string(out), "192.0.2.100/24") {
			return fmt.Errorf("VIP not on eth0: %s %v", out, err)
		}
		return nil
	})
	out := p.Output()
	for _, c := range []struct{ keepalived, importer string }{
		{"nopreempt will not work with initial state MASTER - clearing", "nopreempt has no effect with state MASTER"},
		{"preempt delay will not work with initial state MASTER - clearing", "preempt_delay has no effect with state MASTER"},
		{"unknown track script option unknown_word - ignoring", `unknown option "unknown_word": keepalived ignores the whole line`},
		{"Command = '/usr/sbin/killall5' 'haproxy'", "keepalived runs /usr/sbin/killall5 haproxy"},
		// keepalived runs while its own pidof check fails: pidof is not what it runs.
		{"Command = '/usr/sbin/killall5' 'keepalived'", "the check failed on every run, so it never added it"},
		{"Script `chk_pidof` now returning 1", "this node advertised priority 150 whatever HAProxy did"},
	} {
		if !strings.Contains(out, c.keepalived) {
			t.Errorf("keepalived did not log %q", c.keepalived)
		}
		if !strings.Contains(imported, c.importer) {
			t.Errorf("the importer does not say %q:\n%s", c.importer, imported)
		}
	}
	if strings.Contains(out, "Changing effective priority from 150 to") {
		t.Error("keepalived added a pidof check's weight")
	}
	addrs, err := n.Exec(t.Context(), "ip", "-o", "-4", "addr", "show", "dev", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(addrs), "192.0.2.100/24"); got != 1 || strings.Contains(string(addrs), "eth0:vip") {
		t.Errorf("the repeated VIP: %d address(es), label eth0:vip %v, want one without the label:\n%s", got, strings.Contains(string(addrs), "eth0:vip"), addrs)
	}
	if !strings.Contains(imported, "the first line added it (192.0.2.100/24); this line's 192.0.2.100/24 label eth0:vip was never applied") {
		t.Errorf("the importer does not say the label was never applied:\n%s", imported)
	}
}
