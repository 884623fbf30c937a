package haproxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The `_getsocks` exchange, as HAProxy 2.6 speaks it on a CLI socket declared with
// "expose-fd listeners" (src/cli.c _getsocks, the sender; src/sock.c
// sock_get_old_sockets, the receiver `haproxy -x` runs):
//
//  1. the receiver sends "_getsocks\n";
//  2. the sender answers the number of sockets, a native-endian int of 4 bytes, alone
//     (or closes the connection without a word when it exports none, or when the
//     socket lacks expose-fd);
//  3. then batches of at most maxSendFD sockets: one sendmsg each, the descriptors as
//     SCM_RIGHTS and, per socket, <ns name length byte><ns name><interface name length
//     byte><interface name><4 zero bytes, the listener options before 2.3>;
//  4. the receiver acknowledges every recvmsg with 4 bytes; the sender waits for that
//     acknowledgement after each full batch only.
//
// The receiver learns the address, the protocol and the v6only and transparent options
// from the socket itself (getsockname, getsockopt), and binds a listener of its
// configuration on the received socket of the same address, namespace and interface.
const (
	getsocksCmd = "_getsocks\n"
	// maxSendFD is HAProxy's MAX_SEND_FD: at most this many descriptors per message.
	maxSendFD = 253
	// metaMax bounds one socket's record: 1 + MAXPATHLEN (a namespace name) + 1 +
	// IFNAMSIZ + 4, as HAProxy sizes its buffers.
	metaMax = 1 + 4096 + 1 + 16 + 4
)

// xferSocket is one socket received through `_getsocks`: the descriptor (close-on-exec,
// as Go receives descriptors) and its record, kept byte for byte to be handed on.
type xferSocket struct {
	fd   int
	meta []byte
	// ino identifies the socket itself (every descriptor of it shares the inode),
	// addr is its local address, for logs and tests.
	ino  uint64
	addr string
}

func closeSockets(ss []xferSocket) {
	for _, s := range ss {
		_ = unix.Close(s.fd)
	}
}

// fetchSockets asks the CLI socket at path for its listening sockets, as `haproxy -x`
// does, within timeout. The caller owns the descriptors returned.
func fetchSockets(ctx context.Context, path string, timeout time.Duration) ([]xferSocket, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	conn := c.(*net.UnixConn)
	defer conn.Close()
	dl, _ := ctx.Deadline()
	if err := conn.SetDeadline(dl); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(conn, getsocksCmd); err != nil {
		return nil, err
	}
	var (
		data []byte
		fds  []int
		n    = -1
	)
	buf := make([]byte, maxSendFD*metaMax)
	oob := make([]byte, unix.CmsgSpace(4*maxSendFD))
	fail := func(err error) ([]xferSocket, error) {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
		return nil, err
	}
	for n < 0 || len(fds) < n {
		k, oobn, flags, _, err := conn.ReadMsgUnix(buf, oob)
		if oobn > 0 {
			got, perr := parseRights(oob[:oobn])
			fds = append(fds, got...)
			if perr != nil {
				return fail(perr)
			}
		}
		if flags&unix.MSG_CTRUNC != 0 {
			return fail(errors.New("_getsocks: descriptors truncated"))
		}
		if k == 0 && err == nil {
			err = io.EOF
		}
		if err != nil {
			if n < 0 && len(data) == 0 && errors.Is(err, io.EOF) {
				return fail(errors.New(`_getsocks: closed without an answer (is the socket declared with "expose-fd listeners"?)`))
			}
			return fail(fmt.Errorf("_getsocks: %d of %d sockets received: %w", len(fds), n, err))
		}
		data = append(data, buf[:k]...)
		if n < 0 && len(data) >= 4 {
			n = int(int32(binary.NativeEndian.Uint32(data)))
			data = data[4:]
			if n < 0 || n > 1<<20 {
				return fail(fmt.Errorf("_getsocks: %d sockets announced", n))
			}
		}
		if oobn > 0 {
			// As HAProxy's receiver: acknowledge each batch, so the sender may go on. The
			// sender reads it only after a full batch and may have closed after the
			// last one: an error here is no failure.
			var ack [4]byte
			binary.NativeEndian.PutUint32(ack[:], uint32(len(fds)))
			_, _ = conn.Write(ack[:])
		}
	}
	if len(fds) != n {
		return fail(fmt.Errorf("_getsocks: %d sockets announced, %d received", n, len(fds)))
	}
	metas, err := splitMeta(data, n)
	if err != nil {
		return fail(err)
	}
	out := make([]xferSocket, n)
	for i, fd := range fds {
		out[i] = describe(fd, metas[i])
	}
	return out, nil
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			return fds, err
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// splitMeta cuts the records of n sockets out of data.
func splitMeta(data []byte, n int) ([][]byte, error) {
	out := make([][]byte, 0, n)
	off := 0
	for i := range n {
		start := off
		for range 2 { // namespace, then interface
			if off >= len(data) {
				return nil, fmt.Errorf("_getsocks: record %d of %d cut short", i+1, n)
			}
			off += 1 + int(data[off])
		}
		off += 4
		if off > len(data) {
			return nil, fmt.Errorf("_getsocks: record %d of %d cut short", i+1, n)
		}
		out = append(out, bytes.Clone(data[start:off]))
	}
	if off != len(data) {
		return nil, fmt.Errorf("_getsocks: %d bytes after the last record", len(data)-off)
	}
	return out, nil
}

func describe(fd int, meta []byte) xferSocket {
	s := xferSocket{fd: fd, meta: meta}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil {
		s.ino = st.Ino
	}
	if sa, err := unix.Getsockname(fd); err == nil {
		s.addr = sockaddrString(sa)
	}
	return s
}

func sockaddrString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return (&net.TCPAddr{IP: a.Addr[:], Port: a.Port}).String()
	case *unix.SockaddrInet6:
		return (&net.TCPAddr{IP: a.Addr[:], Port: a.Port}).String()
	case *unix.SockaddrUnix:
		return "unix@" + a.Name
	}
	return fmt.Sprintf("%T", sa)
}

// serveSockets answers one `_getsocks` request on conn with socks, as HAProxy's sender
// does, within timeout. Anything but "_getsocks" is refused.
func serveSockets(conn *net.UnixConn, socks []xferSocket, timeout time.Duration) error {
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	req := make([]byte, len(getsocksCmd))
	if _, err := io.ReadFull(conn, req); err != nil {
		return fmt.Errorf("read request: %w", err)
	}
	if string(req) != getsocksCmd {
		return fmt.Errorf("request %q: only _getsocks is served", req)
	}
	var count [4]byte
	binary.NativeEndian.PutUint32(count[:], uint32(len(socks)))
	if _, err := conn.Write(count[:]); err != nil {
		return err
	}
	for len(socks) > 0 {
		batch := socks[:min(len(socks), maxSendFD)]
		socks = socks[len(batch):]
		var data []byte
		fds := make([]int, len(batch))
		for i, s := range batch {
			fds[i] = s.fd
			data = append(data, s.meta...)
		}
		if _, _, err := conn.WriteMsgUnix(data, syscall.UnixRights(fds...), nil); err != nil {
			return err
		}
		if len(batch) == maxSendFD {
			var ack [4]byte
			if _, err := io.ReadFull(conn, ack[:]); err != nil {
				return fmt.Errorf("acknowledgement: %w", err)
			}
		}
	}
	return nil
}

// listenUnix binds a unix socket at path, mode 0600, replacing a stale file a dead
// halod left (nothing else binds it).
func listenUnix(path string) (*net.UnixListener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(true)
	// Connecting needs write permission on the file: with umask's usual 022 nobody
	// else could before this, and after it only halod's user can.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
