package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netlinkWatcher is the LinkWatcher over an rtnetlink link subscription.
type netlinkWatcher struct {
	log *slog.Logger
}

var _ LinkWatcher = netlinkWatcher{}

// NewNetlinkLinkWatcher returns a LinkWatcher that subscribes to the kernel's link
// notifications (RTNLGRP_LINK) of the calling process's network namespace. If the
// subscription fails (the socket's buffer overflowed, say) it subscribes again and reads
// every state afresh, so no change is lost for good. log may be nil.
func NewNetlinkLinkWatcher(log *slog.Logger) LinkWatcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return netlinkWatcher{log: log}
}

func (w netlinkWatcher) Watch(ctx context.Context, names []string, report func(LinkState)) error {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	return keepSubscribed(ctx, w.log, "link", func(bool) error { return w.watchOnce(ctx, want, report) })
}

// keepSubscribed runs a netlink subscription (once) until ctx ends, subscribing again
// with backoff when it fails (a socket buffer that overflowed, say); resubscribed tells
// once that changes may have been missed meanwhile.
func keepSubscribed(ctx context.Context, log *slog.Logger, what string, once func(resubscribed bool) error) error {
	const maxBackoff = 5 * time.Second
	backoff := 100 * time.Millisecond
	for first := true; ; first = false {
		err := once(!first)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn(what+" subscription failed, subscribing again", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (w netlinkWatcher) watchOnce(ctx context.Context, want map[string]bool, report func(LinkState)) error {
	ch := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	errc := make(chan error, 1)
	err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case errc <- err:
			default:
			}
		},
	})
	if err != nil {
		return fmt.Errorf("vrrp: subscribe to link changes: %w", err)
	}
	defer func() {
		close(done)
		for range ch { // the subscription's goroutine closes ch once it has stopped
		}
	}()
	// Read the states after subscribing: a change between the two is then seen twice,
	// never missed.
	for name := range want {
		report(LinkState{Name: name, Up: currentLinkUp(name)})
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-ch:
			if !ok {
				select {
				case err := <-errc:
					return err
				default:
					return errors.New("vrrp: link subscription closed")
				}
			}
			name := u.Link.Attrs().Name
			if !want[name] {
				continue
			}
			up := u.Header.Type != unix.RTM_DELLINK && flagsUp(u.IfInfomsg.Flags)
			report(LinkState{Name: name, Up: up})
		}
	}
}

func currentLinkUp(name string) bool {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return false
	}
	return flagsUp(link.Attrs().RawFlags)
}

// flagsUp is keepalived's IF_ISUP: administratively up and running (carrier present).
func flagsUp(flags uint32) bool {
	return flags&unix.IFF_UP != 0 && flags&unix.IFF_RUNNING != 0
}
