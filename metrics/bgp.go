package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/halo-lb/halo/supervisor"
)

// bgpCollector exports the BGP part of the snapshot; it exports nothing without a bgp
// section.
type bgpCollector struct {
	src Source

	session, bfd, prefix, announces, withdrawals, drains, flaps *prometheus.Desc

	engineFailures *prometheus.Desc
}

var _ prometheus.Collector = (*bgpCollector)(nil)

func sessionStates() []string {
	return []string{"IDLE", "CONNECT", "ACTIVE", "OPENSENT", "OPENCONFIRM", "ESTABLISHED"}
}

func bfdStates() []string { return []string{"off", "down", "init", "up", "admin_down"} }

func prefixStates() []string { return []string{"announced", "draining", "withdrawn"} }

func newBGPCollector(src Source) *bgpCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("halo_bgp_"+name, help, labels, nil)
	}
	c := &bgpCollector{
		src:         src,
		session:     d("session_state", "BGP session state, one series per state: 1 for the current one.", "neighbor", "state"),
		bfd:         d("bfd_state", "BFD session state with the neighbour, one series per state (off: not configured).", "neighbor", "state"),
		prefix:      d("prefix_state", "Service prefix state, one series per state: 1 for the current one.", "prefix", "state"),
		announces:   d("announces_total", "Changes of the service prefixes into announced."),
		withdrawals: d("withdrawals_total", "Changes of the service prefixes into withdrawn."),
		drains:      d("drains_total", "Planned withdrawals begun with GRACEFUL_SHUTDOWN (RFC 8326)."),
		flaps:       d("session_flaps_total", "Drops of the BGP session from ESTABLISHED.", "neighbor"),
	}
	c.engineFailures = d("engine_failures_total", "Ends of the BGP engine process (halo-bgp) nobody asked for, and its failed starts; a restart follows each.")
	return c
}

func (c *bgpCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.session, c.bfd, c.prefix, c.announces, c.withdrawals, c.drains, c.flaps, c.engineFailures} {
		ch <- d
	}
}

func (c *bgpCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Status()
	collectBGP(c, st.BGP, ch)
}

func collectBGP(c *bgpCollector, b *supervisor.BGPStatus, ch chan<- prometheus.Metric) {
	if b == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, n := range b.Neighbors {
		for _, s := range sessionStates() {
			gauge(c.session, b2f(n.State == s), n.Address, s)
		}
		for _, s := range bfdStates() {
			gauge(c.bfd, b2f(n.BFD == s), n.Address, s)
		}
		counter(c.flaps, float64(n.Flaps), n.Address)
	}
	for _, p := range b.Prefixes {
		for _, s := range prefixStates() {
			gauge(c.prefix, b2f(p.State == s), p.Prefix, s)
		}
	}
	counter(c.announces, float64(b.Announces))
	counter(c.withdrawals, float64(b.Withdrawals))
	counter(c.drains, float64(b.Drains))
	counter(c.engineFailures, float64(b.EngineFailures))
}
