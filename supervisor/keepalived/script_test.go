package keepalived

import (
	"errors"
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
		{[]string{"/etc/keepalived/curl.sh"}, checkOther, false},
		{[]string{"/etc/keepalived/other.sh"}, checkOther, false},
		{[]string{"/etc/keepalived/missing.sh"}, checkUnreadable, false},
		{[]string{"curl", "-fs", "http://127.0.0.1/"}, checkOther, false},
		{[]string{"pidof", "nginx"}, checkOther, false},
	} {
		got := classifyCommand(tc.argv, read)
		if got.kind != tc.want || got.pidofTrap != tc.trap {
			t.Errorf("classifyCommand(%q) = kind %d trap %v (%s), want kind %d trap %v", tc.argv, got.kind, got.pidofTrap, got.how, tc.want, tc.trap)
		}
	}
}
