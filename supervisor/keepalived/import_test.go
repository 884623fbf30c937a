package keepalived

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/halo-lb/halo/vrrp"
)

func writeConf(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const minimal = `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.100/24
    }
%s
}
`

func TestImportUnusable(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		// want is a message the warnings must hold, at "keepalived.conf:LINE: error: ..."
		want string
	}{
		{"AH", strings.Replace(minimal, "%s", "authentication {\n auth_type AH\n auth_pass x\n}", 1), "keepalived.conf:8: error: auth_type AH refused"},
		{"no interface", "vrrp_instance VI_1 {\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n", "keepalived.conf:1: error: vrrp_instance VI_1 has no interface"},
		{"no vips", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n}\n", "keepalived.conf:1: error: vrrp_instance VI_1 has no virtual_ipaddress"},
		{"bad priority", strings.Replace(minimal, "%s", "priority 300", 1), "keepalived.conf:7: error: priority 300: not a whole number in 1..255"},
		{"bad vip", strings.Replace(minimal, "192.0.2.100/24", "192.0.2.300/24", 1), "keepalived.conf:5: error: virtual_ipaddress"},
		{"nothing", "global_defs {\n router_id x\n}\n", "error: no vrrp_instance to convert"},
		{"LVS only", "global_defs {\n router_id x\n}\nvirtual_server 192.0.2.1 80 {\n}\n", "keepalived.conf:1: error: no vrrp_instance to convert: this configuration only does LVS (virtual_server at keepalived.conf:4)"},
		{"unknown group member", minimal + "vrrp_sync_group G {\n group {\n VI_1\n VI_2\n }\n}\n", "keepalived.conf:10: error: sync group G names VI_2"},
		{"duplicate", minimal + minimal, "keepalived.conf:9: error: vrrp_instance VI_1 is defined twice (first at keepalived.conf:1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.ReplaceAll(tc.src, "%s", "")
			res, err := Import(writeConf(t, src), Options{})
			if !errors.Is(err, ErrUnusable) {
				t.Fatalf("err = %v, want ErrUnusable", err)
			}
			if res.YAML != nil {
				t.Error("an unusable result carries YAML")
			}
			var all []string
			for _, w := range res.Warnings {
				all = append(all, w.String())
			}
			if !strings.Contains(strings.Join(all, "\n"), tc.want) {
				t.Errorf("warnings:\n%s\nwant one containing %q", strings.Join(all, "\n"), tc.want)
			}
		})
	}
}

// TestImportDetails checks conversions the golden files do not pin down one by one.
func TestImportDetails(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		check      func(t *testing.T, in vrrp.InstanceConfig)
	}{
		{"notify quoted with args", `notify_master "/etc/keepalived/notify.sh MASTER"`, func(t *testing.T, in vrrp.InstanceConfig) {
			if diff := cmp.Diff([]string{"/etc/keepalived/notify.sh", "MASTER"}, in.Notify.Master); diff != "" {
				t.Error(diff)
			}
		}},
		{"notify unquoted: user", `notify_backup /etc/keepalived/notify.sh nobody`, func(t *testing.T, in vrrp.InstanceConfig) {
			if diff := cmp.Diff([]string{"/etc/keepalived/notify.sh"}, in.Notify.Backup); diff != "" {
				t.Error(diff)
			}
		}},
		{"generic notify", "priority 120\nnotify \"/bin/n.sh 'a b'\"\nnotify_fault /bin/f.sh", func(t *testing.T, in vrrp.InstanceConfig) {
			want := vrrp.Notify{
				Master: []string{"/bin/n.sh", "a b", "INSTANCE", "VI_1", "MASTER", "120"},
				Backup: []string{"/bin/n.sh", "a b", "INSTANCE", "VI_1", "BACKUP", "120"},
				Fault:  []string{"/bin/f.sh"},
				Stop:   []string{"/bin/n.sh", "a b", "INSTANCE", "VI_1", "STOP", "120"},
			}
			in.Notify.Timeout = 0
			if diff := cmp.Diff(want, in.Notify); diff != "" {
				t.Error(diff)
			}
		}},
		{"fractional advert", "advert_int 0.25", func(t *testing.T, in vrrp.InstanceConfig) {
			if in.Version != 3 || in.AdvertInterval.Milliseconds() != 250 {
				t.Errorf("version %d interval %s, want 3 and 250ms", in.Version, in.AdvertInterval)
			}
		}},
		{"v3 drops auth", "version 3\nauthentication {\n auth_type PASS\n auth_pass x\n}", func(t *testing.T, in vrrp.InstanceConfig) {
			if in.AuthPass != "" {
				t.Errorf("auth_pass %q kept with VRRPv3", in.AuthPass)
			}
		}},
		{"owner", "priority 255", func(t *testing.T, in vrrp.InstanceConfig) {
			if !in.AddressOwner || in.Priority != 255 {
				t.Errorf("owner %v priority %d", in.AddressOwner, in.Priority)
			}
		}},
		{"positive weight capped", "priority 250\ntrack_script {\n chk weight 10\n}", func(t *testing.T, in vrrp.InstanceConfig) {
			if in.Priority != 254 || in.TrackHAProxy == nil || in.TrackHAProxy.Weight != -4 {
				t.Errorf("priority %d track %+v, want 254 and weight -4", in.Priority, in.TrackHAProxy)
			}
		}},
		// keepalived resets preempt_delay under nopreempt (vrrp_complete_instance).
		{"nopreempt and delay", "nopreempt\npreempt_delay 30", func(t *testing.T, in vrrp.InstanceConfig) {
			if in.PreemptEnabled() || in.PreemptDelay != 0 {
				t.Errorf("preempt %v delay %s, want false and 0s", in.PreemptEnabled(), in.PreemptDelay)
			}
		}},
		{"delay kept", "preempt_delay 30", func(t *testing.T, in vrrp.InstanceConfig) {
			if !in.PreemptEnabled() || in.PreemptDelay.Seconds() != 30 {
				t.Errorf("preempt %v delay %s, want true and 30s", in.PreemptEnabled(), in.PreemptDelay)
			}
		}},
		// keepalived clears nopreempt and preempt_delay with state MASTER.
		{"state MASTER clears nopreempt", "state MASTER\npriority 150\nnopreempt\npreempt_delay 10", func(t *testing.T, in vrrp.InstanceConfig) {
			if !in.PreemptEnabled() || in.PreemptDelay != 0 || in.Priority != 150 {
				t.Errorf("preempt %v delay %s priority %d, want true, 0s, 150", in.PreemptEnabled(), in.PreemptDelay, in.Priority)
			}
		}},
		{"nopreempt then preempt", "state MASTER\nnopreempt\npreempt\npriority 150", func(t *testing.T, in vrrp.InstanceConfig) {
			if !in.PreemptEnabled() {
				t.Error("preempt off")
			}
		}},
		{"state BACKUP keeps nopreempt", "state BACKUP\nnopreempt", func(t *testing.T, in vrrp.InstanceConfig) {
			if in.PreemptEnabled() || in.Priority != 100 {
				t.Errorf("preempt %v priority %d, want false and 100", in.PreemptEnabled(), in.Priority)
			}
		}},
		// keepalived derives priority 255 from state MASTER when no priority is given.
		{"state MASTER without priority", "state MASTER", func(t *testing.T, in vrrp.InstanceConfig) {
			if in.Priority != 255 || !in.AddressOwner {
				t.Errorf("priority %d owner %v, want 255 and owner", in.Priority, in.AddressOwner)
			}
		}},
		{"BACKUP after MASTER ignored", "state MASTER\nstate BACKUP", func(t *testing.T, in vrrp.InstanceConfig) {
			if in.Priority != 255 {
				t.Errorf("priority %d, want 255 (state stays MASTER)", in.Priority)
			}
		}},
		{"owner clears nopreempt", "priority 255\nnopreempt", func(t *testing.T, in vrrp.InstanceConfig) {
			if !in.PreemptEnabled() {
				t.Error("preempt off for an owner")
			}
		}},
		{"range and dev", "virtual_ipaddress {\n 198.51.100.10-12/24 dev eth1\n}", func(t *testing.T, in vrrp.InstanceConfig) {
			var got []string
			for _, v := range in.VIPs {
				got = append(got, v.Prefix.String()+"@"+v.Dev)
			}
			want := []string{"192.0.2.100/24@", "198.51.100.10/24@eth1", "198.51.100.11/24@eth1", "198.51.100.12/24@eth1"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Error(diff)
			}
		}},
		{"duplicate VIP merged", "virtual_ipaddress {\n 192.0.2.100/24 dev eth0 label eth0:vip\n 192.0.2.101\n}", func(t *testing.T, in vrrp.InstanceConfig) {
			var got []string
			for _, v := range in.VIPs {
				got = append(got, v.Prefix.String()+"@"+v.Label)
			}
			if diff := cmp.Diff([]string{"192.0.2.100/24@", "192.0.2.101/32@"}, got); diff != "" {
				t.Error(diff)
			}
		}},
		{"mixed family dropped", "virtual_ipaddress {\n 2001:db8::1/64\n}", func(t *testing.T, in vrrp.InstanceConfig) {
			if len(in.VIPs) != 1 || in.VIPs[0].Prefix.Addr().Is6() {
				t.Errorf("vips %v, want only the IPv4 one", in.VIPs)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "vrrp_script chk {\n script \"killall -0 haproxy\"\n}\n" + strings.Replace(minimal, "%s", tc.body, 1)
			res, err := Import(writeConf(t, src), Options{})
			if err != nil {
				for _, w := range res.Warnings {
					t.Log(w)
				}
				t.Fatal(err)
			}
			tc.check(t, res.Config.VRRP.Instances[0])
		})
	}
}

func TestRun(t *testing.T) {
	good := writeConf(t, strings.Replace(minimal, "%s", "", 1))
	bad := writeConf(t, strings.Replace(minimal, "%s", "authentication {\n auth_type AH\n}", 1))
	dir := t.TempDir()

	t.Run("stdout", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := Run([]string{good}, &out, &errb); code != ExitOK {
			t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
		}
		if !strings.Contains(out.String(), "vrid: 51") {
			t.Errorf("stdout lacks the instance:\n%s", out.String())
		}
		if !strings.Contains(errb.String(), "keepalived.conf:1: note: version: 2") {
			t.Errorf("stderr lacks the notes:\n%s", errb.String())
		}
	})
	t.Run("file", func(t *testing.T) {
		dst := filepath.Join(dir, "halo.yaml")
		var out, errb bytes.Buffer
		if code := Run([]string{"-o", dst, good}, &out, &errb); code != ExitOK {
			t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
		}
		data, err := os.ReadFile(dst)
		if err != nil || !strings.Contains(string(data), "vrid: 51") || out.Len() != 0 {
			t.Fatalf("file %q err %v stdout %q", data, err, out.String())
		}
		if st, _ := os.Stat(dst); st.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600 (auth_pass may be inside)", st.Mode().Perm())
		}
	})
	t.Run("unusable leaves the file alone", func(t *testing.T) {
		dst := filepath.Join(dir, "keep.yaml")
		if err := os.WriteFile(dst, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		if code := Run([]string{"-o", dst, bad}, &out, &errb); code != ExitUnusable {
			t.Fatalf("exit %d, want %d", code, ExitUnusable)
		}
		if data, _ := os.ReadFile(dst); string(data) != "old" {
			t.Errorf("file rewritten: %q", data)
		}
		if !strings.Contains(errb.String(), "error: auth_type AH refused") || !strings.Contains(errb.String(), "not written") {
			t.Errorf("stderr:\n%s", errb.String())
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.Contains(e.Name(), ".tmp") {
				t.Errorf("temporary file left: %s", e.Name())
			}
		}
	})
	t.Run("host", func(t *testing.T) {
		conf := writeConf(t, strings.Replace(minimal, "%s", "@lb1 priority 150\n@lb2 priority 90", 1))
		for host, want := range map[string]string{"lb1": "priority: 150", "lb2": "priority: 90", "": "priority: 100"} {
			var out, errb bytes.Buffer
			args := []string{conf}
			if host != "" {
				args = []string{"--host", host, conf}
			}
			if code := Run(args, &out, &errb); code != ExitOK {
				t.Fatalf("%q: exit %d, stderr:\n%s", args, code, errb.String())
			}
			if !strings.Contains(out.String(), want) {
				t.Errorf("%q: output lacks %q:\n%s", args, want, out.String())
			}
			if skipped := strings.Contains(errb.String(), "line skipped"); skipped != (host == "") {
				t.Errorf("%q: skipped-line warnings %v, want %v:\n%s", args, skipped, host == "", errb.String())
			}
		}
	})
	t.Run("missing file", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := Run([]string{filepath.Join(dir, "nope.conf")}, &out, &errb); code != ExitUnusable || out.Len() != 0 {
			t.Errorf("exit %d stdout %q", code, out.String())
		}
	})
	t.Run("parse error", func(t *testing.T) {
		var out, errb bytes.Buffer
		p := writeConf(t, "vrrp_instance A {\n")
		if code := Run([]string{p}, &out, &errb); code != ExitUnusable || !strings.Contains(errb.String(), "keepalived.conf:1: block") {
			t.Errorf("exit %d stderr %q", code, errb.String())
		}
	})
	for _, args := range [][]string{{}, {"a", "b"}, {"-haproxy-mode", "bogus", good}, {"-nope", good}} {
		var out, errb bytes.Buffer
		if code := Run(args, &out, &errb); code != ExitUsage {
			t.Errorf("Run(%q) = %d, want %d", args, code, ExitUsage)
		}
	}
}

// TestImportMessages checks the text of messages whose truth matters to an operator.
func TestImportMessages(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		global     string
		want, not  []string
	}{
		{"accept", "accept", "", []string{"keepalived.conf:10: note: accept: nothing to carry over: halo behaves so always"}, []string{"never accepts"}},
		{"no_accept", "no_accept", "", []string{"keepalived.conf:10: warning: no_accept: not carried over", "its master accepts all traffic to the VIPs"}, nil},
		{"duplicate VIP", "virtual_ipaddress {\n 192.0.2.100/24 label eth0:vip\n}", "",
			[]string{"keepalived.conf:11: warning: virtual_ipaddress 192.0.2.100 is listed again (first at keepalived.conf:8): merged into one VIP. The kernel holds it once, as the first line added it (192.0.2.100/24); this line's 192.0.2.100/24 label eth0:vip was never applied", "received an unexpected ip number count"}, nil},
		{"duplicate VIP, skip check", "virtual_ipaddress {\n 192.0.2.100/24\n}", "global_defs {\n vrrp_skip_check_adv_addr\n}\n",
			[]string{"which keepalived accepts here (vrrp_skip_check_adv_addr)"}, []string{"unexpected ip number count"}},
		{"LVS beside an instance", "", "virtual_server 192.0.2.1 80 {\n}\n", []string{"the rest of the file was converted"}, nil},
		{"dev tcp without haproxy.cfg", "track_script {\n tcp\n}", "vrrp_script tcp {\n script \"</dev/tcp/127.0.0.1/80\"\n weight -10\n}\n",
			[]string{"keepalived.conf:15: warning: track_script tcp is a TCP check of 127.0.0.1:80 (</dev/tcp/127.0.0.1/80): halo runs no check scripts", "track_script tcp: besides, keepalived 2.2.7 runs this /dev/tcp test through /bin/sh, which is dash"},
			[]string{"cannot read", "no such file"}},
		{"kubeadm curl without haproxy.cfg", "track_script {\n api\n}", "vrrp_script api {\n script \"curl -k https://localhost:6443/healthz\"\n}\n",
			[]string{"track_script api is an HTTP check of localhost:6443 (curl -k https://localhost:6443/healthz): halo runs no check scripts"},
			[]string{"cannot read", "besides"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "vrrp_script chk {\n script \"killall -0 haproxy\"\n}\n" + strings.Replace(minimal, "%s", tc.body, 1)
			if tc.global != "" {
				src = tc.global + src
			}
			res, err := Import(writeConf(t, src), Options{})
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			var all []string
			for _, w := range res.Warnings {
				all = append(all, w.String())
			}
			text := strings.Join(all, "\n")
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("messages lack %q:\n%s", w, text)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(text, w) {
					t.Errorf("messages hold %q:\n%s", w, text)
				}
			}
		})
	}
}
