package netlab

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is a process a lab started inside a node.
type Proc struct {
	// Name is the program's base name; PID its process ID, recorded at start.
	Name string
	PID  int

	node string
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	err  error // set before done is closed
}

// Signal sends sig to the process it started. os.Process never signals a PID that was
// reaped and may have been reused, which a bare kill(PID) after a check could.
func (p *Proc) Signal(sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("netlab: signal %s (pid %d): %w", p.Name, p.PID, err)
	}
	return nil
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit, or for ctx.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop ends the process: SIGTERM, then SIGKILL after grace. It returns once it has exited.
func (p *Proc) Stop(grace time.Duration) {
	if p.Signal(syscall.SIGTERM) != nil {
		<-p.done
		return
	}
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// Output returns everything the process wrote to stdout and stderr so far.
func (p *Proc) Output() string { return p.out.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Bound what a chatty process can pin in memory during a long benchmark.
	if s.b.Len() > 4<<20 {
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
