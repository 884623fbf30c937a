package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Wire constants.
const (
	// ProtocolNumber is the IP protocol number of VRRP (RFC 5798 §5.1.1.4, §5.1.2.4).
	ProtocolNumber = 112
	// TTL is the IPv4 TTL every advert is sent with and must arrive with (RFC 5798 §5.1.1.3).
	TTL = 255
	// HopLimit is the IPv6 hop limit of every advert, checked on receive (RFC 5798 §5.1.2.3).
	HopLimit = 255
	// headerLen is the fixed part of the VRRP message (RFC 5798 §5.1, RFC 3768 §5.1).
	headerLen = 8
	// authDataLen is the VRRPv2 authentication data trailer (RFC 3768 §5.3.10, RFC 2338 §5.3.10).
	authDataLen = 8
	// typeAdvertisement is the only VRRP message type (RFC 5798 §5.2.2).
	typeAdvertisement = 1
	// maxIntervalV3 is the largest 12-bit Max Adver Int in centiseconds (RFC 5798 §5.2.7).
	maxIntervalV3 = 0x0fff
	// centisecond is the unit of the VRRPv3 interval (RFC 5798 §5.2.7).
	centisecond = 10 * time.Millisecond
)

// AuthType is the VRRPv2 authentication type (RFC 2338 §5.3.6; RFC 3768 keeps the field).
type AuthType uint8

// VRRPv2 authentication types keepalived understands.
const (
	AuthNone   AuthType = 0 // no authentication
	AuthSimple AuthType = 1 // simple text password, keepalived's "auth_type PASS"
	AuthAH     AuthType = 2 // IP Authentication Header; carried by the codec, never accepted by an instance
)

// MulticastGroup returns the VRRP multicast group: 224.0.0.18 (RFC 5798 §5.1.1.2) or
// ff02::12 (RFC 5798 §5.1.2.2). A function, not a variable, so that no package state exists
// that a caller could overwrite.
func MulticastGroup(ipv6 bool) netip.Addr {
	if ipv6 {
		return netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x12})
	}
	return netip.AddrFrom4([4]byte{224, 0, 0, 18})
}

// Errors returned by Unmarshal and Marshal, usable with errors.Is. The returned errors wrap
// these with the offending values.
var (
	ErrTooShort      = errors.New("vrrp: message too short")
	ErrVersion       = errors.New("vrrp: unsupported version")
	ErrType          = errors.New("vrrp: not an advertisement")
	ErrLength        = errors.New("vrrp: length does not match the address count")
	ErrChecksum      = errors.New("vrrp: bad checksum")
	ErrInterval      = errors.New("vrrp: advertisement interval out of range")
	ErrAddressFamily = errors.New("vrrp: address family mismatch")
	ErrVRID          = errors.New("vrrp: VRID 0 is invalid")
	ErrTooMany       = errors.New("vrrp: more than 255 addresses")
)

// Advert is a VRRP advertisement of version 2 or 3.
type Advert struct {
	// Version is 2 (RFC 3768) or 3 (RFC 5798).
	Version int
	// VRID is the virtual router ID, 1..255.
	VRID uint8
	// Priority is the sender's priority: 0 means the master is resigning, 255 the address owner.
	Priority uint8
	// Interval is the advertisement interval: whole seconds in v2 (1..255 s), centiseconds
	// in v3 (10 ms..40.95 s).
	Interval time.Duration
	// Addresses are the virtual addresses, all IPv4 or all IPv6 as the IP header is.
	Addresses []netip.Addr
	// AuthType and AuthData are the VRRPv2 authentication fields; zero in v3.
	AuthType AuthType
	AuthData [authDataLen]byte
	// Reserved is the 4-bit field before Max Adver Int in v3: sent as zero and ignored on
	// receive (RFC 5798 §5.2.5), kept only so that a parsed message marshals back to the
	// same bytes.
	Reserved uint8
}

// Password returns the VRRPv2 simple password with its NUL padding removed.
func (a *Advert) Password() string {
	n := 0
	for n < len(a.AuthData) && a.AuthData[n] != 0 {
		n++
	}
	return string(a.AuthData[:n])
}

// SetPassword sets simple password authentication; the password is cut at 8 bytes, as the
// field holds no more (RFC 2338 §5.3.10).
func (a *Advert) SetPassword(pw string) {
	a.AuthType = AuthSimple
	a.AuthData = [authDataLen]byte{}
	copy(a.AuthData[:], pw)
}

// Len returns the length of the marshalled message.
func (a *Advert) Len() int {
	n := headerLen + len(a.Addresses)*addrLen(a.Addresses)
	if a.Version == 2 {
		n += authDataLen
	}
	return n
}

func addrLen(addrs []netip.Addr) int {
	if len(addrs) > 0 && addrs[0].Is6() {
		return 16
	}
	return 4
}

// Marshal returns the message as sent from src to dst. src and dst enter the VRRPv3
// checksum through the pseudo-header (RFC 5798 §5.2.8); VRRPv2 ignores them.
func (a *Advert) Marshal(src, dst netip.Addr) ([]byte, error) {
	return a.AppendMarshal(make([]byte, 0, a.Len()), src, dst)
}

// AppendMarshal appends the message to b, so that a sender can reuse one buffer.
func (a *Advert) AppendMarshal(b []byte, src, dst netip.Addr) ([]byte, error) {
	if a.VRID == 0 {
		return b, ErrVRID
	}
	if len(a.Addresses) > 255 {
		return b, fmt.Errorf("%w: %d", ErrTooMany, len(a.Addresses))
	}
	v6 := len(a.Addresses) > 0 && a.Addresses[0].Is6()
	for _, ad := range a.Addresses {
		// An IPv4-mapped address is 16 bytes like any IPv6 one: Unmarshal returns it from
		// an IPv6 advert (keepalived sends a configured ::ffff:a.b.c.d as is), so Marshal
		// must take it back; mixed with IPv4 addresses, Is6 refuses it.
		if ad.Is6() != v6 || !ad.IsValid() || ad.Zone() != "" {
			return b, fmt.Errorf("%w: address %q does not match the first address %s", ErrAddressFamily, ad, a.Addresses[0])
		}
	}
	var word uint16
	switch a.Version {
	case 2:
		if v6 {
			return b, fmt.Errorf("%w: VRRPv2 carries IPv4 only", ErrAddressFamily)
		}
		if a.Interval%time.Second != 0 || a.Interval < time.Second || a.Interval > 255*time.Second {
			return b, fmt.Errorf("%w: %s (VRRPv2: whole seconds 1s..255s)", ErrInterval, a.Interval)
		}
		word = uint16(a.AuthType)<<8 | uint16(a.Interval/time.Second)
	case 3:
		if err := checkPseudo(src, dst, v6, len(a.Addresses) > 0); err != nil {
			return b, err
		}
		if a.Interval%centisecond != 0 || a.Interval < centisecond || a.Interval > maxIntervalV3*centisecond {
			return b, fmt.Errorf("%w: %s (VRRPv3: centiseconds 10ms..40.95s)", ErrInterval, a.Interval)
		}
		if a.Reserved > 0x0f {
			return b, fmt.Errorf("%w: reserved bits %#x wider than 4 bits", ErrVersion, a.Reserved)
		}
		word = uint16(a.Reserved)<<12 | uint16(a.Interval/centisecond)
	default:
		return b, fmt.Errorf("%w: %d", ErrVersion, a.Version)
	}
	start := len(b)
	b = append(b, byte(a.Version)<<4|typeAdvertisement, a.VRID, a.Priority, byte(len(a.Addresses)))
	b = binary.BigEndian.AppendUint16(b, word)
	b = append(b, 0, 0) // checksum, filled below
	for _, ad := range a.Addresses {
		b = append(b, ad.AsSlice()...)
	}
	if a.Version == 2 {
		b = append(b, a.AuthData[:]...)
	}
	msg := b[start:]
	var sum uint32
	if a.Version == 3 {
		sum = pseudoSum(src, dst, len(msg))
	}
	binary.BigEndian.PutUint16(msg[6:], fold(sum+onesSum(msg)))
	return b, nil
}

// checkPseudo checks that the pseudo-header addresses exist and match the family of the
// addresses carried, since a v3 checksum without them cannot be right.
func checkPseudo(src, dst netip.Addr, v6, haveAddrs bool) error {
	if !src.IsValid() || !dst.IsValid() || src.Is6() != dst.Is6() {
		return fmt.Errorf("%w: VRRPv3 needs source and destination of one family for its checksum (got %s, %s)", ErrAddressFamily, src, dst)
	}
	if haveAddrs && src.Is6() != v6 {
		return fmt.Errorf("%w: addresses are not of the family of %s", ErrAddressFamily, src)
	}
	return nil
}

// Unmarshal parses a message received from src for dst (the addresses of its IP header,
// which select the address family and enter the v3 checksum). It reuses a.Addresses'
// storage, so a receive loop can parse without allocating. It never panics: every
// malformed input returns an error wrapping one of the Err* sentinels.
func (a *Advert) Unmarshal(b []byte, src, dst netip.Addr) error {
	if len(b) < headerLen {
		return fmt.Errorf("%w: %d bytes, want at least %d", ErrTooShort, len(b), headerLen)
	}
	version, typ := int(b[0]>>4), b[0]&0x0f
	if version != 2 && version != 3 {
		return fmt.Errorf("%w: %d", ErrVersion, version)
	}
	if typ != typeAdvertisement {
		return fmt.Errorf("%w: type %d", ErrType, typ)
	}
	vrid, prio, count := b[1], b[2], int(b[3])
	if vrid == 0 {
		return ErrVRID
	}
	v6 := src.Is6()
	if version == 2 {
		if v6 {
			return fmt.Errorf("%w: VRRPv2 from %s (VRRPv2 is IPv4 only)", ErrAddressFamily, src)
		}
	} else if err := checkPseudo(src, dst, v6, false); err != nil {
		return err
	}
	alen := 4
	if v6 {
		alen = 16
	}
	want := headerLen + count*alen
	if version == 2 {
		want += authDataLen
	}
	if len(b) != want {
		if len(b) < want {
			return fmt.Errorf("%w: %d bytes for %d addresses, want %d", ErrTooShort, len(b), count, want)
		}
		return fmt.Errorf("%w: %d bytes for %d addresses, want %d", ErrLength, len(b), count, want)
	}
	var sum uint32
	if version == 3 {
		sum = pseudoSum(src, dst, len(b))
	}
	if c := fold(sum + onesSum(b)); c != 0 {
		// A correct message sums to zero, the checksum field included (RFC 1071).
		return fmt.Errorf("%w: %#04x in a message from %s", ErrChecksum, binary.BigEndian.Uint16(b[6:]), src)
	}
	word := binary.BigEndian.Uint16(b[4:])
	var interval time.Duration
	var auth AuthType
	var reserved uint8
	if version == 2 {
		auth = AuthType(word >> 8)
		interval = time.Duration(word&0xff) * time.Second
	} else {
		reserved = uint8(word >> 12)
		interval = time.Duration(word&maxIntervalV3) * centisecond
	}
	if interval == 0 {
		// A zero interval would make the master-down interval the skew time alone; no
		// implementation sends it, so it is a corrupt message.
		return fmt.Errorf("%w: 0", ErrInterval)
	}
	addrs := a.Addresses[:0]
	for i := range count {
		p := b[headerLen+i*alen:]
		if v6 {
			addrs = append(addrs, netip.AddrFrom16([16]byte(p[:16])))
		} else {
			addrs = append(addrs, netip.AddrFrom4([4]byte(p[:4])))
		}
	}
	*a = Advert{
		Version:   version,
		VRID:      vrid,
		Priority:  prio,
		Interval:  interval,
		Addresses: addrs,
		AuthType:  auth,
		Reserved:  reserved,
	}
	if version == 2 {
		copy(a.AuthData[:], b[len(b)-authDataLen:])
	}
	return nil
}

// PeekVRID returns the VRID of a message without parsing it, so that a receiver sharing
// the protocol with other virtual routers drops theirs before paying for a full parse.
func PeekVRID(b []byte) (vrid uint8, ok bool) {
	if len(b) < 2 {
		return 0, false
	}
	return b[1], true
}

// pseudoSum is the one's-complement sum of the IPv4 or IPv6 pseudo-header for a VRRP
// message of length n (RFC 5798 §5.2.8 refers to RFC 2460 §8.1 and the IPv4 equivalent).
// The IPv4 (zero, protocol, 16-bit length) and IPv6 (32-bit length, 24 zero bits, next
// header) layouts add up to the same 16-bit words, so one function serves both.
func pseudoSum(src, dst netip.Addr, n int) uint32 {
	var sum uint32
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		sum = onesSum(s[:]) + onesSum(d[:])
	} else {
		s, d := src.As16(), dst.As16()
		sum = onesSum(s[:]) + onesSum(d[:])
	}
	return sum + ProtocolNumber + uint32(n)>>16 + uint32(n)&0xffff
}

// onesSum adds b as big-endian 16-bit words, an odd last byte padded with zero (RFC 1071).
func onesSum(b []byte) uint32 {
	var sum uint32
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// fold folds the carries of a 32-bit sum into 16 bits and complements it.
func fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// checksum is the Internet checksum of b with the pseudo-header of src and dst (skipped when
// src is not valid), for the other messages this package sends (ICMPv6 neighbour
// advertisements use the same algorithm, RFC 4443 §2.3).
func checksum(b []byte, src, dst netip.Addr, proto uint8) uint16 {
	var sum uint32
	if src.IsValid() {
		sum = pseudoSum(src, dst, len(b)) - ProtocolNumber + uint32(proto)
	}
	return fold(sum + onesSum(b))
}
