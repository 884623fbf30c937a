package supervisor

import (
	"os"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/halo-lb/halo/internal/vrrptest"
)

// TestReloadEmptyConfigChangesNothing: a reload of a truncated (empty) halo.yaml used to
// remove every instance and release the VIP, answer OK and leave config_valid true.
func TestReloadEmptyConfigChangesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := vrrptest.NewLink()
		a := startNode(t, link, "a", "192.0.2.11", 101, "{fault: true}", "")
		waitState(t, a, "VI_1", "MASTER")
		for _, data := range []string{"", "control: {socket: " + a.dir + "/halo.sock}\n"} {
			if err := os.WriteFile(a.cfg, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			resp := a.sup.Reload(t.Context())
			if resp.OK || !strings.Contains(resp.Error, a.cfg) || !strings.Contains(resp.Error, "no VRRP instance") {
				t.Fatalf("reload of %q answered %+v", data, resp)
			}
			st := a.sup.Status()
			if len(st.Instances) != 1 || st.Instances[0].State != "MASTER" || st.ConfigValid {
				t.Fatalf("after a refused reload of %q: instances %+v, config_valid %v", data, st.Instances, st.ConfigValid)
			}
		}
	})
}
