//go:build !linux

package bgp

import "syscall"

// engineProcAttr: without a parent-death signal, halo-bgp stops when its stdin ends.
func engineProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
