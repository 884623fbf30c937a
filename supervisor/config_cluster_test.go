package supervisor

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/halo-lb/halo/internal/vrrptest"
)

func TestClusterName(t *testing.T) {
	c, err := ParseConfig("halo.yaml", []byte("cluster: eu-west\n"+oneInstance))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster != "eu-west" {
		t.Errorf("cluster %q, want eu-west", c.Cluster)
	}
	if c, err := ParseConfig("halo.yaml", []byte(oneInstance)); err != nil || c.Cluster != "" {
		t.Errorf("no cluster key: %q, %v; want the empty default", c.Cluster, err)
	}
	_, err = ParseConfig("halo.yaml", []byte("cluster: \"eu west\"\n"+oneInstance))
	if err == nil || !strings.Contains(err.Error(), "halo.yaml:1: cluster: ") {
		t.Errorf("a cluster name with a space: got %v, want an error at halo.yaml:1 naming cluster", err)
	}
	_, err = ParseConfig("halo.yaml", []byte("cluster: [a]\n"+oneInstance))
	if err == nil || !strings.Contains(err.Error(), "halo.yaml:1") {
		t.Errorf("a cluster list: got %v, want an error at line 1", err)
	}
}

// TestClusterInStatus: the status (and so halo_node_info) carries the cluster name, and a
// reload of halo.yaml changes it.
func TestClusterInStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := vrrptest.NewLink()
		// At column 0, the extra line is a top-level key.
		a := startNode(t, link, "a", "192.0.2.11", 101, "{fault: true}", "cluster: eu-west")
		waitState(t, a, "VI_1", "MASTER")
		if got := a.sup.Status().Cluster; got != "eu-west" {
			t.Errorf("status cluster %q, want eu-west", got)
		}
		os.WriteFile(a.cfg, []byte(fmt.Sprintf(nodeYAML, 101, "20ms", "{fault: true}", "cluster: eu-north", a.dir)), 0o644)
		if resp := a.sup.Reload(t.Context()); !resp.OK {
			t.Fatalf("reload: %+v", resp)
		}
		if got := a.sup.Status().Cluster; got != "eu-north" {
			t.Errorf("status cluster after reload %q, want eu-north", got)
		}
	})
}
