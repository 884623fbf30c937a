package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/halo-lb/halo/vrrp"
)

// FloodResult is vrrp-flood's one line of output.
type FloodResult struct {
	Sent    int     `json:"sent"`
	Seconds float64 `json:"seconds"`
}

// flood sends count valid VRRPv3 adverts for one VRID to the IPv4 multicast group from
// the interface's primary address, paced by gap, and stops after count or max-time.
func flood(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("vrrp-flood", flag.ExitOnError)
	iface := fs.String("iface", "eth0", "interface to send on")
	vrid := fs.Int("vrid", 51, "VRID of the adverts")
	prio := fs.Int("priority", 50, "priority of the adverts (1..254)")
	interval := fs.Duration("interval", time.Second, "advert interval the adverts carry")
	vip := fs.String("vip", "192.0.2.100", "the virtual address the adverts carry")
	count := fs.Int("count", 2000, "adverts to send (at most 100,000)")
	gap := fs.Duration("gap", 500*time.Microsecond, "time between two adverts")
	maxTime := fs.Duration("max-time", 30*time.Second, "stop after this long")
	fs.Parse(args)
	if *count < 1 || *count > 100_000 || *prio < 1 || *prio > 254 || *vrid < 1 || *vrid > 255 {
		return errors.New("vrrp-flood: count 1..100000, priority 1..254, vrid 1..255")
	}
	addr, err := netip.ParseAddr(*vip)
	if err != nil || !addr.Is4() {
		return fmt.Errorf("vrrp-flood: -vip %q: not an IPv4 address", *vip)
	}
	ifi, err := net.InterfaceByName(*iface)
	if err != nil {
		return err
	}
	src, err := primary4(ifi)
	if err != nil {
		return err
	}
	a := vrrp.Advert{Version: 3, VRID: uint8(*vrid), Priority: uint8(*prio), Interval: *interval, Addresses: []netip.Addr{addr}}
	group := vrrp.MulticastGroup(false)
	msg, err := a.Marshal(src, group)
	if err != nil {
		return err
	}
	c, err := net.ListenPacket("ip4:112", src.String())
	if err != nil {
		return err
	}
	defer c.Close()
	pc := ipv4.NewPacketConn(c)
	if err := pc.SetMulticastInterface(ifi); err != nil {
		return err
	}
	if err := pc.SetMulticastTTL(255); err != nil { // RFC 5798 §5.1.1.3
		return err
	}
	_ = pc.SetMulticastLoopback(false)
	ctx, cancel := context.WithTimeout(ctx, *maxTime)
	defer cancel()
	dst := &net.IPAddr{IP: group.AsSlice()}
	start := time.Now()
	sent := 0
	for sent < *count && ctx.Err() == nil {
		if _, err := pc.WriteTo(msg, nil, dst); err != nil {
			return fmt.Errorf("vrrp-flood: after %d adverts: %w", sent, err)
		}
		sent++
		time.Sleep(*gap) // pacing of the flood itself, not a wait for a condition
	}
	return json.NewEncoder(os.Stdout).Encode(FloodResult{Sent: sent, Seconds: time.Since(start).Seconds()})
}

func primary4(ifi *net.Interface) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
			return p.Addr(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("vrrp-flood: %s has no IPv4 address", ifi.Name)
}
