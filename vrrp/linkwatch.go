package vrrp

import (
	"context"
	"time"
)

// LinkState is the state of one network interface as a LinkWatcher reports it.
type LinkState struct {
	// Name is the interface name.
	Name string
	// Up is true while the interface is administratively up and has its carrier (IFF_UP
	// and IFF_RUNNING, keepalived's test); a missing interface is down.
	Up bool
}

// LinkWatcher reports the state of network interfaces. The netlink implementation comes
// from NewNetlinkLinkWatcher; tests pass a fake one.
type LinkWatcher interface {
	// Watch calls report with the current state of every named interface, then again on
	// every change, until ctx ends; it may repeat a state. It returns ctx's error, or an
	// error that stopped it for good. report must not block for long.
	Watch(ctx context.Context, names []string, report func(LinkState)) error
}

// linkFaultPrefix starts the fault names the link tracking sets: "link:eth1".
const linkFaultPrefix = "link:"

// linkSettle bounds how long Run waits for the first report of every tracked link
// before it starts the state machine, so that an instance whose link is down starts in
// FAULT instead of passing through BACKUP.
const linkSettle = time.Second
