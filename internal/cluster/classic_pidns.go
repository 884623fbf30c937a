package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// startPIDNamespace starts the node's PID namespace: an init that reaps orphans and exits
// after maxLife, or when the lab kills it.
func (lb *ClassicLB) startPIDNamespace(maxLife time.Duration) error {
	script := fmt.Sprintf(`trap 'exit 0' TERM INT; for ((i=0; i<%d; i++)); do sleep 1; done`, int(maxLife.Seconds()))
	p, err := lb.Node.Start("unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--", "/bin/bash", "-c", script)
	if err != nil {
		return err
	}
	lb.init = p
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if kids := children(p.PID); len(kids) == 1 {
			lb.initPID = kids[0]
			ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", lb.initPID))
			if err != nil {
				return err
			}
			lb.pidNS = ns
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("PID namespace of %s: unshare exited:\n%s", lb.Name, p.Output())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("PID namespace of %s: no init after 5s", lb.Name)
}

// children returns the child PIDs of a process (host PIDs).
func children(pid int) []int {
	out, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// nsMatches reports whether host PID pid lives in lb's PID namespace.
func (lb *ClassicLB) nsMatches(pid int) bool {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	return err == nil && ns == lb.pidNS
}

// nsenter is the argv prefix that runs a program inside the node's PID namespace.
func (lb *ClassicLB) nsenter() []string {
	return []string{"--target", strconv.Itoa(lb.initPID), "--pid", "--mount", "--"}
}

// HostPID maps a PID as seen inside the node's PID namespace (a pid file's content) to the
// host's PID of that process.
func (lb *ClassicLB) HostPID(nsPID int) (int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(st), "\n") {
			if f, ok := strings.CutPrefix(line, "NSpid:"); ok {
				ids := strings.Fields(f)
				if len(ids) >= 2 && ids[len(ids)-1] == strconv.Itoa(nsPID) && lb.nsMatches(pid) {
					return pid, nil
				}
				break
			}
		}
	}
	return 0, fmt.Errorf("no process %d in the PID namespace of %s", nsPID, lb.Name)
}

// NSPID maps a host PID of a process in the node's PID namespace to its PID there.
func (lb *ClassicLB) NSPID(hostPID int) (int, error) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", hostPID))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(st), "\n") {
		if f, ok := strings.CutPrefix(line, "NSpid:"); ok {
			ids := strings.Fields(f)
			return strconv.Atoi(ids[len(ids)-1])
		}
	}
	return 0, fmt.Errorf("pid %d: no NSpid", hostPID)
}
