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
// keepalived does not know, a pidof check with a positive weight, and /dev/tcp checks of a
// port HAProxy listens on, bare (run by /bin/sh) and under bash.
const agreeConf = `vrrp_script chk_haproxy {
    script "pidof haproxy"
    interval 1
    weight 20
}
vrrp_script chk_tcp {
    script "</dev/tcp/127.0.0.1/8080"
    interval 1
    weight -7
}
vrrp_script chk_bash {
    script "/bin/bash -c '</dev/tcp/127.0.0.1/8080'"
    interval 1
    weight -3
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    nopreempt
    preempt_delay 5
    version 3
    advert_int 0.3
    virtual_ipaddress {
        192.0.2.100/24
        192.0.2.100/24 label eth0:vip
    }
    track_script {
        chk_haproxy unknown_word
    }
    track_script {
        chk_haproxy
        chk_tcp
        chk_bash
    }
}
`

const agreeHAProxy = `global
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend f
    bind 127.0.0.1:8080
`

// TestKeepalivedAgrees runs Debian's keepalived (2.2.7 on bookworm) on agreeConf in a
// network namespace where HAProxy listens on 127.0.0.1:8080, and checks that it does what
// the importer's messages about the same file say it does: nopreempt and preempt_delay
// cleared, the unknown track_script line ignored, pidof run as killall5 and failing
// although HAProxy runs (so the +20 is never added), the bare /dev/tcp check failing
// although the port is open (dash) while the bash one passes, the repeated VIP held once
// with the first line's options. A keepalived that behaves otherwise (a fixed pidof
// resolution, say) fails this test, and the importer's messages must change with it.
func TestKeepalivedAgrees(t *testing.T) {
	tier.Root(t)
	bin := tier.Keepalived(t)
	hap := tier.HAProxy(t)
	l := netlab.New(t, netlab.Options{Nodes: 1, Networks: 1})
	n := l.Nodes[0]
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(agreeConf), 0o600); err != nil {
		t.Fatal(err)
	}
	hcfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(hcfg, []byte(agreeHAProxy), 0o600); err != nil {
		t.Fatal(err)
	}
	hp, err := n.Start(hap, "-db", "-f", hcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer hp.Stop(5 * time.Second)
	poll.Until(t, 10*time.Second, "HAProxy to listen on 127.0.0.1:8080", func() error {
		_, err := n.Exec(t.Context(), "bash", "-c", "</dev/tcp/127.0.0.1/8080")
		return err
	})

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
	took := poll.Until(t, 15*time.Second, "keepalived to run its checks and hold the VIP", func() error {
		for _, seen := range []string{"Script `chk_haproxy` now returning", "Script `chk_tcp` now returning", "VRRP_Script(chk_bash) succeeded"} {
			if !strings.Contains(p.Output(), seen) {
				return fmt.Errorf("not yet in keepalived's log: %s", seen)
			}
		}
		out, err := n.Exec(t.Context(), "ip", "-o", "-4", "addr", "show", "dev", "eth0")
		if err != nil || !strings.Contains(string(out), "192.0.2.100/24") {
			return fmt.Errorf("VIP not on eth0: %s %v", out, err)
		}
		return nil
	})
	t.Logf("keepalived ran its checks and held the VIP after %v", took)
	out := p.Output()
	for _, c := range []struct{ keepalived, importer string }{
		{"nopreempt will not work with initial state MASTER - clearing", "nopreempt has no effect with state MASTER"},
		{"preempt delay will not work with initial state MASTER - clearing", "preempt_delay has no effect with state MASTER"},
		{"unknown track script option unknown_word - ignoring", `unknown option "unknown_word": keepalived ignores the whole line`},
		{"Command = '/usr/sbin/killall5' 'haproxy'", "keepalived runs /usr/sbin/killall5 haproxy"},
		{"Script `chk_haproxy` now returning 1", "the check failed on every run, so it never added it: this node advertised priority 150 whatever HAProxy did"},
		{"Script `chk_tcp` now returning 2", "track_script chk_tcp: besides, keepalived 2.2.7 runs this /dev/tcp test through /bin/sh, which is dash"},
		{"(VI_1) Changing effective priority from 150 to 143", "track_script chk_tcp is a TCP check of 127.0.0.1:8080"},
	} {
		if !strings.Contains(out, c.keepalived) {
			t.Errorf("keepalived did not log %q", c.keepalived)
		}
		if !strings.Contains(imported, c.importer) {
			t.Errorf("the importer does not say %q:\n%s", c.importer, imported)
		}
	}
	if strings.Contains(out, "VRRP_Script(chk_bash) failed") || strings.Contains(out, "to 170") || strings.Contains(out, "to 167") {
		t.Error("the bash /dev/tcp check failed, or keepalived added the pidof check's weight")
	}
	if strings.Contains(imported, "track_script chk_bash: besides") {
		t.Error("the importer says the bash /dev/tcp check failed under keepalived")
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
