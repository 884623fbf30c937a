package vrrp

import (
	"cmp"
	"errors"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// The advert socket's reads and writes are raw recvmmsg/sendmsg calls on its non-blocking
// descriptor, waited for through the netpoller (syscall.RawConn), rather than
// x/net's ReadFrom and WriteTo: those make scheduled system calls, and each scheduled
// call wakes the Go runtime's monitor thread, which then polls every 20 µs until the
// process is idle again. A backup of 50 instances at 100 ms hears 500 adverts a second
// and a master sends as many. The calls cannot block (MSG_DONTWAIT), so the scheduler
// need not hear of them. A read takes what has arrived, up to readBatchSize packets: a
// master's adverts for all its instances come in one burst (see tick).

// oobSize holds the control messages asked for (TTL or hop limit, destination,
// interface), with room to spare.
const oobSize = 128

// recvBatch is the scratch of one recvmmsg call: a backup hears its master's adverts for
// all its instances in a burst (see tick), read in one call rather than one each.
type recvBatch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	froms []unix.RawSockaddrAny
	oobs  [][oobSize]byte
}

func newRecvBatch(n int) *recvBatch {
	return &recvBatch{hdrs: make([]unix.Mmsghdr, n), iovs: make([]unix.Iovec, n),
		froms: make([]unix.RawSockaddrAny, n), oobs: make([][oobSize]byte, n)}
}

// rawRecvBatch reads at least one packet, at most len(bufs), each into a buffer of bufs
// (an IPv4 header is stripped), and fills pks[:n] with their payloads, sources and control
// messages. It returns n; a packet that cannot be decoded (never seen: the kernel
// checks the IP header) is skipped, and its error returned only when it was the only one.
func rawRecvBatch(rc syscall.RawConn, ipv6only bool, bt *recvBatch, bufs [][]byte, pks []Packet) (int, error) {
	want := min(len(bufs), len(pks), len(bt.hdrs))
	if want == 0 {
		return 0, errors.New("vrrp: empty read batch")
	}
	for i := range want {
		if len(bufs[i]) == 0 {
			return 0, errors.New("vrrp: empty read buffer")
		}
		bt.iovs[i].Base = &bufs[i][0]
		bt.iovs[i].SetLen(len(bufs[i]))
	}
	var (
		got  int
		errn syscall.Errno
	)
	err := rc.Read(func(fd uintptr) bool {
		for i := range want {
			h := &bt.hdrs[i]
			h.Hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&bt.froms[i])), Namelen: unix.SizeofSockaddrAny,
				Iov: &bt.iovs[i], Iovlen: 1, Control: &bt.oobs[i][0]}
			h.Hdr.SetControllen(oobSize)
			h.Len = 0
		}
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&bt.hdrs[0])), uintptr(want), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EAGAIN {
			return false
		}
		got, errn = int(r), e
		return true
	})
	if err != nil {
		return 0, err
	}
	if errn != 0 {
		return 0, errn
	}
	n := 0
	var firstErr error
	for i := range got {
		h := &bt.hdrs[i]
		pk, err := decodeRecv(ipv6only, &bt.froms[i], bt.oobs[i][:h.Hdr.Controllen], bufs[i], int(h.Len))
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		pks[n] = pk
		n++
	}
	if n == 0 {
		return 0, cmp.Or(firstErr, errors.New("vrrp: recvmmsg read nothing"))
	}
	return n, nil
}

// decodeRecv makes a Packet of what recvmsg returned: n bytes in b from from, with the
// control messages oob.
func decodeRecv(ipv6only bool, from *unix.RawSockaddrAny, oob, b []byte, n int) (Packet, error) {
	pk := Packet{TTL: -1}
	switch from.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(from))
		pk.Src = netip.AddrFrom4(sa.Addr)
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(from))
		pk.Src = netip.AddrFrom16(sa.Addr).Unmap()
	}
	parseCmsgs(oob, &pk)
	if ipv6only {
		pk.Data = b[:n]
	} else {
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

// parseCmsgs reads the TTL or hop limit, the destination and the interface from the
// control messages the socket asked for (IP_RECVTTL and IP_PKTINFO, or their IPv6
// counterparts), in place: x/net's ControlMessage.Parse allocates twice per packet.
func parseCmsgs(b []byte, pk *Packet) {
	hdr := unix.CmsgLen(0)
	for len(b) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < hdr || l > len(b) {
			return
		}
		data := b[hdr:l]
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_TTL && len(data) >= 4:
			pk.TTL = int(*(*int32)(unsafe.Pointer(&data[0])))
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			pk.IfIndex, pk.Dst = int(pi.Ifindex), netip.AddrFrom4(pi.Addr)
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_HOPLIMIT && len(data) >= 4:
			pk.TTL = int(*(*int32)(unsafe.Pointer(&data[0])))
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			pk.IfIndex, pk.Dst = int(pi.Ifindex), netip.AddrFrom16(pi.Addr)
		}
		next := unix.CmsgSpace(l - hdr)
		if next >= len(b) {
			return
		}
		b = b[next:]
	}
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
