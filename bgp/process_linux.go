package bgp

import "syscall"

// engineProcAttr makes the kernel kill halo-bgp when halod dies, however it dies: the
// routers then see the sessions drop and withdraw this node, as they would had GoBGP been
// inside the dead halod. Its own process group keeps a terminal's ^C (meant for halod, which
// then stops the engine in order) from reaching it.
func engineProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
