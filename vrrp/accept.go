package vrrp

import (
	"errors"
	"net/netip"
)

// accept validates a received packet for the instance cfg per RFC 5798 §7.1 and RFC 3768
// §7.1: it returns the reason to drop it (a counter label), or "" with the advert parsed
// into adv. peers, when not empty, are the only sources accepted (unicast). It is pure,
// testable and fuzzable without a socket; the packet's VRID was matched before (by the
// shared socket's demultiplexing, or receiver.check for a socket of its own).
func accept(cfg *InstanceConfig, pk Packet, peers map[netip.Addr]bool, adv *Advert) string {
	if len(peers) > 0 {
		if !peers[pk.Src] {
			return "peer"
		}
	} else if pk.TTL >= 0 && pk.TTL != TTL {
		// The TTL check is what keeps adverts from off-link senders out; keepalived
		// applies it to multicast only, since unicast peers may be routed.
		return "ttl"
	}
	dst := pk.Dst
	if !dst.IsValid() {
		dst = MulticastGroup(cfg.IPv6())
	}
	if err := adv.Unmarshal(pk.Data, pk.Src, dst); err != nil {
		return invalidReason(err)
	}
	if adv.Version != cfg.Version {
		return "version"
	}
	if adv.Version == 2 {
		want := AuthNone
		if cfg.AuthPass != "" {
			want = AuthSimple
		}
		if adv.AuthType != want || (want == AuthSimple && adv.Password() != truncPass(cfg.AuthPass)) {
			return "auth"
		}
		if adv.Interval != cfg.AdvertInterval {
			// RFC 3768 §7.1: v2 intervals must match; v3 adopts the master's instead.
			return "interval"
		}
	}
	return ""
}

func truncPass(s string) string {
	if len(s) > authDataLen {
		return s[:authDataLen]
	}
	return s
}

// invalidReason maps a codec error to its counter label.
func invalidReason(err error) string {
	for _, r := range []struct {
		err    error
		reason string
	}{
		{ErrTooShort, "too_short"}, {ErrChecksum, "checksum"}, {ErrVersion, "version"},
		{ErrType, "type"}, {ErrLength, "length"}, {ErrInterval, "interval"},
		{ErrAddressFamily, "address_family"}, {ErrVRID, "vrid"},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "other"
}
