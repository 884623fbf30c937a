package supervisor

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// removeStaleSocket removes a socket file a crashed run left at path, and nothing else:
// control.socket pointing at a regular file (a typo, halo.yaml itself) must not delete it.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket (%s): refusing to replace it; fix control.socket or remove the file", path, fileKind(fi.Mode()))
	}
	return os.Remove(path)
}

// listenPrivate listens on a unix socket at path that has mode and group gid (-1: none)
// from the moment it appears there. bind(2) creates the file with the umask's mode, and a
// chmod after it leaves a moment in which anyone may connect; changing the umask would
// change it for the whole process. So the socket is made in a fresh 0700 directory beside
// path, where nobody else can reach it, given its mode and group, and renamed into place.
// It returns the listener and the socket file as it was put in place.
func listenPrivate(path string, mode os.FileMode, gid int, listened func()) (*net.UnixListener, os.FileInfo, error) {
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".hs")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmp)
	// A short name: a unix socket path is limited to 107 bytes.
	private := filepath.Join(tmp, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: private, Net: "unix"})
	if err != nil {
		return nil, nil, err
	}
	// The listener would unlink the private path, which is gone once renamed; the
	// server removes the real path itself.
	ln.SetUnlinkOnClose(false)
	if listened != nil {
		listened()
	}
	fail := func(err error) (*net.UnixListener, os.FileInfo, error) {
		ln.Close()
		return nil, nil, err
	}
	if err := os.Chmod(private, mode); err != nil {
		return fail(err)
	}
	if gid >= 0 {
		if err := os.Chown(private, 0, gid); err != nil {
			return fail(err)
		}
	}
	// NOREPLACE: whatever appeared at path since the stale socket was removed is kept.
	if err := unix.Renameat2(unix.AT_FDCWD, private, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE); err != nil {
		return fail(&os.LinkError{Op: "rename", Old: private, New: path, Err: err})
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return ln, fi, nil
}

// removeOwnSocket removes the socket file at path if it is still the one this server put
// there: a second halod that took the path over keeps its socket.
func removeOwnSocket(path string, own os.FileInfo) {
	if fi, err := os.Lstat(path); err == nil && os.SameFile(fi, own) {
		_ = os.Remove(path)
	}
}
