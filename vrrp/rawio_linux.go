package vrrp

import (
	"errors"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// The advert socket's reads and writes are raw recvmsg/sendmsg calls on its non-blocking
// descriptor, waited for through the netpoller (syscall.RawConn), rather than
// x/net's ReadFrom and WriteTo: those make scheduled system calls, and each scheduled
// call wakes the Go runtime's monitor thread, which then polls every 20 µs until the
// process is idle again. A backup of 50 instances at 100 ms hears 500 adverts a second
// and a master sends as many. The calls cannot block (MSG_DONTWAIT), so the scheduler
// need not hear of them.

// oobSize holds the control messages asked for (TTL or hop limit, destination,
// interface), with room to spare.
const oobSize = 128

// rawRecv reads one packet into b: its payload (an IPv4 header is stripped), its source,
// and the control messages parsed into pk.
func rawRecv(rc syscall.RawConn, ipv6only bool, b []byte) (Packet, error) {
	pk := Packet{TTL: -1}
	if len(b) == 0 {
		return pk, errors.New("vrrp: empty read buffer")
	}
	var (
		oob  [oobSize]byte
		from unix.RawSockaddrAny
		iov  unix.Iovec
		msg  unix.Msghdr
		n    int
		errn syscall.Errno
	)
	iov.Base = &b[0]
	iov.SetLen(len(b))
	err := rc.Read(func(fd uintptr) bool {
		msg = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&from)), Namelen: unix.SizeofSockaddrAny, Iov: &iov, Iovlen: 1, Control: &oob[0]}
		msg.SetControllen(len(oob))
		r, _, e := unix.RawSyscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&msg)), unix.MSG_DONTWAIT)
		if e == unix.EAGAIN {
			return false
		}
		n, errn = int(r), e
		return true
	})
	if err != nil {
		return pk, err
	}
	if errn != 0 {
		return pk, errn
	}
	switch from.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&from))
		pk.Src = netip.AddrFrom4(sa.Addr)
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&from))
		pk.Src = netip.AddrFrom16(sa.Addr).Unmap()
	}
	cmsgs := oob[:msg.Controllen]
	if ipv6only {
		var cm ipv6.ControlMessage
		if len(cmsgs) > 0 && cm.Parse(cmsgs) == nil {
			pk.TTL, pk.IfIndex = cm.HopLimit, cm.IfIndex
			pk.Dst, _ = netip.AddrFromSlice(cm.Dst)
		}
		pk.Data = b[:n]
	} else {
		var cm ipv4.ControlMessage
		if len(cmsgs) > 0 && cm.Parse(cmsgs) == nil {
			pk.TTL, pk.IfIndex = cm.TTL, cm.IfIndex
			pk.Dst, _ = netip.AddrFromSlice(cm.Dst)
		}
		// A raw IPv4 socket reads the IP header too.
		if n < ipv4.HeaderLen {
			return pk, errors.New("vrrp: IPv4 packet shorter than its header")
		}
		hl := int(b[0]&0x0f) << 2
		if hl < ipv4.HeaderLen || hl > n {
			return pk, errors.New("vrrp: IPv4 header length out of bounds")
		}
		pk.Data = b[:copy(b, b[hl:n])]
	}
	pk.Src, pk.Dst = pk.Src.Unmap(), pk.Dst.Unmap()
	return pk, nil
}

// rawSend sends msg to dst with the control messages oob (the source address and the
// interface, and the hop limit on IPv6), as one datagram.
func rawSend(rc syscall.RawConn, msg, oob []byte, dst netip.Addr, scope uint32) error {
	if len(msg) == 0 {
		return errors.New("vrrp: empty advert")
	}
	var (
		to    unix.RawSockaddrAny
		tolen uint32
	)
	if dst.Is4() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&to))
		sa.Family, sa.Addr = unix.AF_INET, dst.As4()
		tolen = unix.SizeofSockaddrInet4
	} else {
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&to))
		sa.Family, sa.Addr, sa.Scope_id = unix.AF_INET6, dst.As16(), scope
		tolen = unix.SizeofSockaddrInet6
	}
	var (
		iov  unix.Iovec
		hdr  unix.Msghdr
		errn syscall.Errno
		n    int
	)
	iov.Base = &msg[0]
	iov.SetLen(len(msg))
	err := rc.Write(func(fd uintptr) bool {
		hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&to)), Namelen: tolen, Iov: &iov, Iovlen: 1}
		if len(oob) > 0 {
			hdr.Control = &oob[0]
			hdr.SetControllen(len(oob))
		}
		r, _, e := unix.RawSyscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&hdr)), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		if e == unix.EAGAIN {
			return false
		}
		n, errn = int(r), e
		return true
	})
	if err != nil {
		return err
	}
	if errn != 0 {
		return errn
	}
	if n != len(msg) {
		return errors.New("vrrp: advert sent in part")
	}
	return nil
}
