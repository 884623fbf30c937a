package haproxy

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/poll"
)

// TestRefusedReloadIsNoHealthFailure: a new bind on a port another process listens on
// passes `haproxy -c`; reloaded, HAProxy 2.6 would pause the old frontends while the new
// process retried the bind (clients refused for ~2 s), and halo read the pause as a
// failure (the VIP went away for 5.5 s). The reload is refused before it reaches HAProxy,
// and the verdict never flips.
func TestRefusedReloadIsNoHealthFailure(t *testing.T) {
	l := newLab(t)
	r := start(t, l.cfg)
	poll.Until(t, 10*time.Second, "healthy", healthy(r.m))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	l.vars.Generated = fmt.Sprintf("frontend extra\n    bind %s\n    default_backend app\n", busy.Addr())
	l.writeConfig()
	res, err := r.m.Reload(t.Context())
	if err == nil && res.OK() {
		t.Fatalf("a reload binding a port in use succeeded: %+v", res)
	}
	t.Logf("reload refused as expected: %s (%s)", res.Outcome, res.Reason)
	// Refused before it reached HAProxy: the running frontends were never paused.
	if res.Outcome != ReloadInvalid || !strings.Contains(err.Error(), "in use by pid") || !strings.Contains(err.Error(), ":23") {
		t.Errorf("reload outcome %s, err %v; want it refused as invalid, naming the bind line and the process holding the port", res.Outcome, err)
	}
	// Watch as long again as HAProxy's retries take, after the reload returned: the
	// verdict must not change at all.
	v, changed := r.m.Health()
	if !v.Healthy {
		t.Fatalf("the verdict went unhealthy around a refused reload: %+v", v)
	}
	select {
	case <-changed:
		v, _ = r.m.Health()
		t.Fatalf("the verdict changed after a refused reload: %+v", v)
	case <-time.After(3 * time.Second):
	}
	if ev := r.eventsOf(func(e Event) bool { h, ok := e.(*HealthChanged); return ok && !h.Healthy }); len(ev) != 0 {
		t.Errorf("health events around the refused reload: %v", ev)
	}
	if err := get(l.frontend); err != nil {
		t.Errorf("the old worker does not serve after the refused reload: %v", err)
	}
}
