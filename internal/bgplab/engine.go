package bgplab

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/halo-lb/halo/internal/cluster"
)

// EnginePID returns the PID of lb's halo-bgp, halod's child (/proc/PID/task/*/children).
func EnginePID(lb *cluster.LB) (int, error) {
	if lb.Halod == nil {
		return 0, fmt.Errorf("%s: no halod", lb.Name)
	}
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", lb.Halod.PID))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, w := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(w)
			if err != nil {
				continue
			}
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "halo-bgp" {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("%s: halod (pid %d) runs no halo-bgp", lb.Name, lb.Halod.PID)
}
