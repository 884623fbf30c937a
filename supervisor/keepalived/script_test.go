package keepalived

import (
	"errors"
	"strings"
	"testing"
)

func TestClassifyCommand(t *testing.T) {
	files := map[string]string{
		"/etc/keepalived/chk.sh":     "#!/bin/bash\nSERVICE=haproxy\nSTATUS=$(pidof $SERVICE | wc -w)\nif [ \"$STATUS\" -eq 0 ]; then\n  exit 1\nfi\nexit 0\n",
		"/etc/keepalived/ps.sh":      "#!/bin/sh\nif [ $(ps -C haproxy --no-header | wc -l) -eq 0 ]; then exit 1; fi\n",
		"/etc/keepalived/grep.sh":    "#!/bin/sh\nps aux | grep haproxy | grep -v grep > /dev/null 2>&1\n",
		"/etc/keepalived/restart.sh": "#!/bin/sh\nif ! pidof haproxy; then\n  systemctl restart haproxy\nfi\n",
		"/etc/keepalived/curl.sh":    "#!/bin/sh\ncurl -fs http://127.0.0.1:8404/ || exit 1\n",
		"/etc/keepalived/other.sh":   "#!/bin/sh\npidof nginx || exit 1\n",
	}
	read := func(p string) ([]byte, string, error) {
		if d, ok := files[p]; ok {
			return []byte(d), p, nil
		}
		return nil, p, errors.New("no such file")
	}
	for _, tc := range []struct {
		argv []string
		want checkKind
		trap bool
	}{
		{[]string{"killall", "-0", "haproxy"}, checkHAProxy, false},
		{[]string{"/usr/bin/killall", "-0", "haproxy"}, checkHAProxy, false},
		{[]string{"killall", "haproxy"}, checkOther, false}, // would kill it
		{[]string{"pkill", "-0", "-x", "haproxy"}, checkHAProxy, false},
		{[]string{"pidof", "haproxy"}, checkHAProxy, true},
		{[]string{"/bin/pidof", "-s", "haproxy"}, checkHAProxy, true},
		{[]string{"pgrep", "-x", "haproxy"}, checkHAProxy, false},
		{[]string{"systemctl", "is-active", "--quiet", "haproxy.service"}, checkHAProxy, false},
		{[]string{"systemctl", "restart", "haproxy"}, checkOther, false},
		{[]string{"service", "haproxy", "status"}, checkHAProxy, false},
		{[]string{"/etc/init.d/haproxy", "status"}, checkHAProxy, false},
		{[]string{"/bin/sh", "-c", "pidof haproxy > /dev/null"}, checkHAProxy, false},
		{[]string{"bash", "-c", "kill -0 `cat /run/haproxy.pid`"}, checkHAProxy, false},
		{[]string{"sh", "-c", "pidof haproxy && touch /tmp/x"}, checkOther, false},
		{[]string{"/etc/keepalived/chk.sh"}, checkHAProxy, false},
		{[]string{"bash", "/etc/keepalived/ps.sh"}, checkHAProxy, false},
		{[]string{"/etc/keepalived/grep.sh"}, checkHAProxy, false},
		{[]string{"/etc/keepalived/restart.sh"}, checkOther, false},
		{[]string{"/etc/keepalived/curl.sh"}, checkNet, false},
		{[]string{"/etc/keepalived/other.sh"}, checkOther, false},
		{[]string{"/etc/keepalived/missing.sh"}, checkUnreadable, false},
		{[]string{"curl", "-fs", "http://127.0.0.1/"}, checkNet, false},
		{[]string{"pidof", "nginx"}, checkOther, false},
	} {
		got := classifyCommand(tc.argv, read)
		if got.kind != tc.want || got.pidofTrap != tc.trap {
			t.Errorf("classifyCommand(%q) = kind %d trap %v (%s), want kind %d trap %v", tc.argv, got.kind, got.pidofTrap, got.how, tc.want, tc.trap)
		}
	}
}

// TestClassifyNet: TCP and HTTP probes are recognised as what they are, with the target
// they test, and the /bin/sh (dash) trap of /dev/tcp marked.
func TestClassifyNet(t *testing.T) {
	files := map[string]string{
		"/etc/keepalived/check_apiserver.sh": "#!/bin/sh\nerrorExit() {\n    echo \"*** $*\" 1>&2\n    exit 1\n}\n" +
			"curl --silent --max-time 2 --insecure https://localhost:6443/ -o /dev/null || errorExit \"Error GET https://localhost:6443/\"\n" +
			"if ip addr | grep -q 192.0.2.10; then\n    curl --silent --max-time 2 --insecure https://192.0.2.10:6443/ -o /dev/null || errorExit \"x\"\nfi\n",
		"/etc/keepalived/tcp.sh":   "#!/bin/bash\nexec 3<>/dev/tcp/127.0.0.1/443 || exit 1\n",
		"/etc/keepalived/tcpsh.sh": "</dev/tcp/127.0.0.1/443\n",
		"/etc/keepalived/mixed.sh": "#!/bin/sh\nip addr add 192.0.2.9/24 dev eth0\nnc -z 127.0.0.1 80\n",
	}
	read := func(p string) ([]byte, string, error) {
		if d, ok := files[p]; ok {
			return []byte(d), p, nil
		}
		return nil, p, errors.New("no such file")
	}
	for _, tc := range []struct {
		argv    []string
		kind    checkKind
		dash    bool
		targets string
		http    bool
	}{
		{[]string{"</dev/tcp/127.0.0.1/80"}, checkNet, true, "127.0.0.1:80", false},
		{[]string{"<", "/dev/tcp/127.0.0.1/80"}, checkNet, true, "127.0.0.1:80", false},
		{[]string{"/bin/bash", "-c", "</dev/tcp/127.0.0.1/80"}, checkNet, false, "127.0.0.1:80", false},
		{[]string{"sh", "-c", "</dev/tcp/127.0.0.1/80"}, checkNet, true, "127.0.0.1:80", false},
		{[]string{"nc", "-z", "127.0.0.1", "80"}, checkNet, false, "127.0.0.1:80", false},
		{[]string{"/usr/bin/nc", "-zv", "-w", "2", "localhost", "8443"}, checkNet, false, "localhost:8443", false},
		{[]string{"nc", "127.0.0.1", "80"}, checkOther, false, "", false},
		{[]string{"curl", "-f", "http://192.0.2.10/healthz"}, checkNet, false, "192.0.2.10:80", true},
		{[]string{"curl", "-k", "https://localhost:6443/healthz"}, checkNet, false, "localhost:6443", true},
		{[]string{"/usr/bin/timeout", "0.9", "/usr/bin/curl", "-o", "/dev/null", "-Ls", "http://localhost"}, checkNet, false, "localhost:80", true},
		{[]string{"wget", "-q", "-O", "/dev/null", "http://[::1]:8080/"}, checkNet, false, "[::1]:8080", true},
		{[]string{"/etc/keepalived/check_apiserver.sh"}, checkNet, false, "localhost:6443 192.0.2.10:6443", true},
		{[]string{"/etc/keepalived/tcp.sh"}, checkNet, false, "127.0.0.1:443", false},
		{[]string{"/etc/keepalived/tcpsh.sh"}, checkNet, true, "127.0.0.1:443", false},
		{[]string{"sh", "/etc/keepalived/tcp.sh"}, checkNet, true, "127.0.0.1:443", false},
		{[]string{"timeout", "1", "bash", "-c", "cat < /dev/null > /dev/tcp/127.0.0.1/6443"}, checkNet, false, "127.0.0.1:6443", false},
		{[]string{"/usr/bin/timeout", "-s", "KILL", "2", "sh", "-c", "</dev/tcp/127.0.0.1/80"}, checkNet, true, "127.0.0.1:80", false},
		{[]string{"bash", "/etc/keepalived/tcpsh.sh"}, checkNet, false, "127.0.0.1:443", false},
		{[]string{"/etc/keepalived/mixed.sh"}, checkOther, false, "", false},
		{[]string{"killall", "-0", "haproxy"}, checkHAProxy, false, "", false},
	} {
		got := classifyCommand(tc.argv, read)
		var targets []string
		http := false
		for _, n := range got.nets {
			targets = append(targets, n.target())
			http = http || n.http
		}
		if got.kind != tc.kind || got.dashTrap != tc.dash || strings.Join(targets, " ") != tc.targets || http != tc.http {
			t.Errorf("classifyCommand(%q) = kind %d dash %v targets %q http %v (%s), want kind %d dash %v targets %q http %v",
				tc.argv, got.kind, got.dashTrap, targets, http, got.how, tc.kind, tc.dash, tc.targets, tc.http)
		}
	}
	if np, _ := netProbeOf([]string{"curl", "-s", "http://127.0.0.1/"}); np.note == "" {
		t.Error("curl without -f: no note that any HTTP status passed")
	}
}
