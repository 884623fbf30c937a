package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// ErrPermission wraps a refusal to open the control socket (its mode and group keep this
// user out), so that haloctl can say so, and exit with a code of its own, rather than
// call halod down.
var ErrPermission = errors.New("permission denied")

// Client is one connection to the control socket; requests on it are served in order.
// It is not safe for concurrent use.
type Client struct {
	socket string
	c      net.Conn
	dec    *json.Decoder
}

// Dial connects to the daemon's control socket.
func Dial(ctx context.Context, socket string) (*Client, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if errors.Is(err, os.ErrPermission) {
		return nil, fmt.Errorf("%w on %s: this user may not open halod's control socket; run as root, or as a member of the group that control.group in halo.yaml names (its control.mode must let the group in, e.g. \"0660\")", ErrPermission, socket)
	}
	if err != nil {
		return nil, fmt.Errorf("%w on %s: %v", ErrUnreachable, socket, err)
	}
	return &Client{socket: socket, c: c, dec: json.NewDecoder(bufio.NewReader(c))}, nil
}

// Close closes the connection.
func (cl *Client) Close() error { return cl.c.Close() }

// Do sends req and returns its answer; ctx's deadline bounds the wait, and its end
// abandons it (the daemon drops a request whose client hung up).
func (cl *Client) Do(ctx context.Context, req Request) (Response, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Time{}
	}
	_ = cl.c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = cl.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := json.NewEncoder(cl.c).Encode(req); err != nil {
		if ctx.Err() != nil {
			return Response{}, ctx.Err()
		}
		return Response{}, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	var resp Response
	if err := cl.dec.Decode(&resp); err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Response{}, ctx.Err()
		}
		// halod took the request: a timeout here is a slow answer (a long reload), not an
		// absent daemon.
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return Response{}, fmt.Errorf("halod did not answer %q in time (it may still be working on it): %w", req.Cmd, err)
		}
		return Response{}, fmt.Errorf("%w: reading the answer: %v", ErrUnreachable, err)
	}
	return resp, nil
}

// Call sends one request to the daemon at socket and returns its answer.
func Call(ctx context.Context, socket string, req Request) (Response, error) {
	cl, err := Dial(ctx, socket)
	if err != nil {
		return Response{}, err
	}
	defer cl.Close()
	return cl.Do(ctx, req)
}

// MaxStatusWait is the longest a status request with Since waits before it is answered
// unchanged; a client's deadline for such a request must exceed it.
const MaxStatusWait = maxStatusWait
