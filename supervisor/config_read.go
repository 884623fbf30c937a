package supervisor

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// MaxConfigSize bounds halo.yaml (1 MiB, hundreds of instances' worth). The decoder
// holds a node tree many times the file's size, and a reload keeps the old config alive
// while it builds the new one: a 50 MB file once took halod from 21 to 380 MB, for good.
const MaxConfigSize = 1 << 20

// readConfigFile reads halo.yaml, refusing anything that is not a regular file of at most
// MaxConfigSize bytes. Control requests are served one at a time, so a read that blocks
// (a FIFO with no writer, a device) would wedge every later command.
func readConfigFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := checkConfigFile(path, fi); err != nil {
		return nil, err
	}
	// O_NONBLOCK: opening a FIFO for reading blocks until a writer comes, and the file
	// may have been swapped for one since the Stat. On a regular file it changes nothing.
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := checkConfigFile(path, fi); err != nil {
		return nil, err
	}
	// The size can grow after the Stat; the read stops one byte past the limit anyway.
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxConfigSize {
		return nil, tooLarge(path, int64(len(data)))
	}
	return data, nil
}

func checkConfigFile(path string, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return &ConfigError{File: path, Msg: fmt.Sprintf("not a regular file (%s): halo.yaml must be a plain file", fileKind(fi.Mode()))}
	}
	if fi.Size() > MaxConfigSize {
		return tooLarge(path, fi.Size())
	}
	return nil
}

func tooLarge(path string, size int64) error {
	return &ConfigError{File: path, Msg: fmt.Sprintf("%d bytes or more: larger than the %d bytes (1 MiB) halo.yaml may have; refused before parsing", size, MaxConfigSize)}
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	default:
		return m.Type().String()
	}
}
