package supervisor

import (
	"context"
	"encoding/json"
	"net"
	"testing"
)

// TestHalfClosedClientAnswered: a client that shuts down its writing half after its
// request (nc, socat) has not gone away: it still gets its answer.
func TestHalfClosedClientAnswered(t *testing.T) {
	sock := startServer(t, HandlerFunc(func(ctx context.Context, req Request) Response {
		if ctx.Err() != nil {
			return Response{Error: "cancelled"}
		}
		return Response{OK: true, Message: "done"}
	}))
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(`{"cmd":"reload"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil || !resp.OK {
		t.Fatalf("answer to a half-closed client: %+v %v", resp, err)
	}
}
