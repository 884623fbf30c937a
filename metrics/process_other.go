//go:build !linux

package metrics

// processFamilies has nothing to say outside Linux: halod runs on Linux (VRRP needs its
// raw sockets and netlink), and the process metrics come from /proc.
func processFamilies() []family { return nil }
