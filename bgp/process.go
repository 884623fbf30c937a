package bgp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// EngineName is the engine's executable: GoBGP in a process of its own (cmd/halo-bgp).
const EngineName = "halo-bgp"

// Timeouts of the engine process. A reply later than replyTimeout means a hung engine:
// it is killed and started again, which the routers see as the sessions dropping.
const (
	engineStartTimeout = 10 * time.Second
	replyTimeout       = 5 * time.Second
)

// LookEngine finds halo-bgp: path when given, else next to the running executable (where
// `make install` and the package put it), /usr/lib/halo, then $PATH.
func LookEngine(path string) (string, error) {
	if path != "" {
		if err := executable(path); err != nil {
			return "", fmt.Errorf("bgp: engine %s: %w", path, err)
		}
		return path, nil
	}
	var tried []string
	if exe, err := os.Executable(); err == nil {
		c := filepath.Join(filepath.Dir(exe), EngineName)
		if executable(c) == nil {
			return c, nil
		}
		tried = append(tried, filepath.Dir(exe))
	}
	if c := filepath.Join("/usr/lib/halo", EngineName); executable(c) == nil {
		return c, nil
	}
	if c, err := exec.LookPath(EngineName); err == nil {
		return c, nil
	}
	tried = append(tried, "/usr/lib/halo", "$PATH")
	return "", fmt.Errorf("bgp: %s (the BGP engine halod runs for the bgp section) not found in %s", EngineName, strings.Join(tried, ", "))
}

func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	return nil
}

// ProcessEngine runs the engine as a child process (halo-bgp), one per Start.
type ProcessEngine struct {
	// Path of halo-bgp; "": LookEngine's search.
	Path string
}

// Start starts halo-bgp, hands it the config on its stdin and waits until it is ready.
func (e ProcessEngine) Start(ctx context.Context, spec EngineSpec) (EngineRun, error) {
	path, err := LookEngine(e.Path)
	if err != nil {
		return nil, err
	}
	if spec.Log == nil {
		spec.Log = slog.New(slog.DiscardHandler)
	}
	var files [6]*os.File // stdin r/w, stdout r/w, stderr r/w
	for i := 0; i < len(files); i += 2 {
		if files[i], files[i+1], err = os.Pipe(); err != nil {
			closeAll(files[:])
			return nil, fmt.Errorf("bgp: engine pipes: %w", err)
		}
	}
	cmd := exec.Command(path)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[3], files[5]
	cmd.SysProcAttr = engineProcAttr()
	p := &proc{
		log: spec.Log, onNeighbors: spec.OnNeighbors, stdin: files[1],
		out:    &lineWriter{w: files[1], timeout: replyTimeout},
		ready:  make(chan struct{}),
		reply:  make(chan struct{}, 1),
		exited: make(chan struct{}),
		done:   make(chan struct{}),
	}
	started := make(chan error, 1)
	go p.own(cmd, started)
	err = <-started
	files[0].Close()
	files[3].Close()
	files[5].Close()
	if err != nil {
		closeAll([]*os.File{files[1], files[2], files[4]})
		return nil, fmt.Errorf("bgp: start %s: %w", path, err)
	}
	p.proc = cmd.Process
	p.log.Info("BGP engine started", "path", path, "pid", p.proc.Pid)
	var readers sync.WaitGroup
	readers.Go(func() { p.readStderr(files[4]) })
	readers.Go(func() { p.read(files[2]) })
	go func() {
		readers.Wait()
		<-p.exited
		p.mu.Lock()
		switch {
		case p.err != nil:
		case p.exitErr != nil:
			p.err = fmt.Errorf("%s (pid %d): %w", EngineName, p.proc.Pid, p.exitErr)
		default:
			p.err = fmt.Errorf("%s (pid %d) exited", EngineName, p.proc.Pid)
		}
		p.mu.Unlock()
		close(p.done)
	}()

	abort := func(err error) (EngineRun, error) {
		p.kill()
		<-p.done
		p.stdin.Close()
		return nil, err
	}
	debug := spec.Log.Enabled(context.Background(), slog.LevelDebug)
	if err := p.out.send(toEngine{Start: &startMsg{Config: *spec.Config, RefreshInterval: spec.RefreshInterval, Debug: debug}}); err != nil {
		return abort(fmt.Errorf("bgp: writing the engine's config: %w", err))
	}
	t := time.NewTimer(engineStartTimeout)
	defer t.Stop()
	select {
	case <-p.ready:
		return p, nil
	case <-p.done:
		return abort(fmt.Errorf("bgp: engine did not start: %w", p.Err()))
	case <-t.C:
		return abort(fmt.Errorf("bgp: engine not ready after %s", engineStartTimeout))
	case <-ctx.Done():
		return abort(ctx.Err())
	}
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

// proc is one halo-bgp process.
type proc struct {
	log         *slog.Logger
	onNeighbors func([]NeighborStatus)
	stdin       *os.File
	out         *lineWriter
	proc        *os.Process

	applyMu sync.Mutex // one Apply at a time
	seq     uint64

	mu        sync.Mutex
	replied   appliedMsg // the newest answer
	err       error      // why it ended
	exitErr   error      // Wait's answer (nil: status 0)
	stderr    []string   // its last lines, for the log when it dies
	readyOnce sync.Once

	ready  chan struct{}
	reply  chan struct{} // 1 slot: "an answer arrived"
	exited chan struct{} // Wait returned
	done   chan struct{} // exited, and both pipes read to their end
}

// own starts the process and waits for it on one locked thread: Linux sends the
// parent-death signal when the thread that forked the child ends, not the process, and Go
// ends a thread whose locked goroutine returns; this goroutine keeps its thread until the
// child is gone.
func (p *proc) own(cmd *exec.Cmd, started chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		started <- err
		close(p.exited)
		return
	}
	started <- nil
	err := cmd.Wait()
	p.mu.Lock()
	p.exitErr = err
	p.mu.Unlock()
	close(p.exited)
}

func (p *proc) kill() {
	if p.proc != nil {
		_ = p.proc.Kill() // by PID (a pidfd where the kernel has them)
	}
}

// read dispatches the engine's lines until its stdout ends.
func (p *proc) read(f *os.File) {
	defer f.Close()
	in := newLineReader(f)
	for {
		line, err := in.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.fail(fmt.Errorf("reading the engine: %w", err))
			}
			return
		}
		var m fromEngine
		if err := json.Unmarshal(line, &m); err != nil {
			p.fail(fmt.Errorf("bad line from the engine: %.200q", line))
			return
		}
		switch {
		case m.Ready:
			p.readyOnce.Do(func() { close(p.ready) })
		case m.Applied != nil:
			p.mu.Lock()
			p.replied = *m.Applied
			p.mu.Unlock()
			poke(p.reply)
		case m.Neighbors != nil:
			if p.onNeighbors != nil {
				p.onNeighbors(m.Neighbors)
			}
		case m.Log != nil:
			attrs := make([]any, 0, len(m.Log.Attrs))
			for _, a := range m.Log.Attrs {
				attrs = append(attrs, a)
			}
			p.log.Log(context.Background(), m.Log.Level, m.Log.Msg, attrs...)
		case m.Fatal != "":
			p.mu.Lock()
			p.err = fmt.Errorf("%s: %s", EngineName, m.Fatal)
			p.mu.Unlock()
		}
	}
}

// fail records a broken conversation and ends the process.
func (p *proc) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	p.kill()
}

// readStderr keeps the last lines the engine wrote outside the protocol (a Go panic).
func (p *proc) readStderr(f *os.File) {
	defer f.Close()
	in := newLineReader(f)
	for {
		line, err := in.next()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.stderr = append(p.stderr, string(line[:min(len(line), 512)]))
		if len(p.stderr) > 20 {
			p.stderr = p.stderr[1:]
		}
		p.mu.Unlock()
	}
}

// Apply sends the phase and waits for the engine's answer.
func (p *proc) Apply(ctx context.Context, ph Phase, degraded bool) error {
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	p.seq++
	seq := p.seq
	if err := p.out.send(toEngine{Apply: &applyMsg{Seq: seq, Phase: ph.String(), Degraded: degraded}}); err != nil {
		p.fail(fmt.Errorf("writing to the engine: %w", err))
		return err
	}
	t := time.NewTimer(replyTimeout)
	defer t.Stop()
	for {
		select {
		case <-p.reply:
			p.mu.Lock()
			r := p.replied
			p.mu.Unlock()
			if r.Seq != seq {
				continue
			}
			if r.Error != "" {
				return errors.New(r.Error)
			}
			return nil
		case <-p.done:
			return fmt.Errorf("bgp: engine ended: %w", p.Err())
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			err := fmt.Errorf("bgp: engine did not answer in %s; killed", replyTimeout)
			p.fail(err)
			return err
		}
	}
}

// Stop asks the engine to withdraw and close its sessions, and kills it when ctx ends
// first.
func (p *proc) Stop(ctx context.Context) error {
	_ = p.out.send(toEngine{Stop: true})
	p.stdin.Close() // the engine's second way of learning it must stop
	select {
	case <-p.done:
	case <-ctx.Done():
		p.log.Warn("BGP engine did not stop in time; killing it", "pid", p.proc.Pid)
		p.kill()
		<-p.done
		return fmt.Errorf("bgp: engine killed: %w", ctx.Err())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitErr != nil {
		return fmt.Errorf("bgp: engine stop: %w", p.exitErr)
	}
	return nil
}

func (p *proc) Done() <-chan struct{} { return p.done }

// Err says why the engine ended, with its last stderr lines when it wrote any.
func (p *proc) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.err
	if err == nil {
		err = p.exitErr
	}
	if err != nil && len(p.stderr) > 0 {
		err = fmt.Errorf("%w; its stderr ended with: %s", err, strings.Join(p.stderr, " | "))
	}
	return err
}
