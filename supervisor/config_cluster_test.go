package supervisor

import (
	"strings"
	"testing"
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
