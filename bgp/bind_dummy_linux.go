package bgp

import (
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// addDummy creates a dummy interface with one RTM_NEWLINK. netlink.LinkAdd would do it,
// but it carries the encoder of every link kind the library knows (bonds, tunnels,
// VXLAN...): about 100 kB of halod's binary for one message.
func addDummy(name string) error { return addLink(name, "dummy") }

// addLink creates an interface of a kind that needs no attribute but its name.
func addLink(name, kind string) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated(kind))
	req.AddData(info)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}
