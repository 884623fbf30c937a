package supervisor

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Status is the one snapshot of the node: haloctl renders it, metrics/ exports it. Its JSON
// form is a stable API (`haloctl status --json`): fields may be added, never renamed.
type Status struct {
	// Generation moves on with every change a status shows; a status request with Since
	// waits for it to move (haloctl watch).
	Generation uint64 `json:"generation"`
	// Hostname is the node's name, so that a status pasted into a ticket says whose it is.
	Hostname    string            `json:"hostname"`
	Version     string            `json:"version"`
	ConfigFile  string            `json:"config_file"`
	ConfigValid bool              `json:"config_valid"`
	Maintenance bool              `json:"maintenance"`
	HAProxy     HAProxyStatus     `json:"haproxy"`
	Instances   []InstanceStatus  `json:"instances"`
	SyncGroups  []SyncGroupStatus `json:"sync_groups,omitempty"`
	// Cluster is halo.yaml's cluster name ("" when none is set).
	Cluster string `json:"cluster,omitempty"`
	// BGP is absent without a bgp section.
	BGP *BGPStatus `json:"bgp,omitempty"`
}

// HAProxyStatus is the HAProxy part of the snapshot.
type HAProxyStatus struct {
	Mode    string `json:"mode"`
	PID     int    `json:"pid"`
	Running bool   `json:"running"`
	Healthy bool   `json:"healthy"`
	// Degraded: not healthy, but serving: only a backend is under its minimum.
	Degraded bool `json:"degraded"`
	// Reason says why HAProxy is unhealthy ("backend app: 0/2 servers UP").
	Reason string `json:"reason"`
	// Since is when the current health verdict began.
	Since     time.Time `json:"since,omitzero"`
	StartedAt time.Time `json:"started_at,omitzero"`
	// LastCheckSeconds is how long the last health check took.
	LastCheckSeconds float64 `json:"last_check_seconds"`
	Reloads          int     `json:"reloads"`
	ReloadsFailed    int     `json:"reloads_failed"`
	Restarts         int     `json:"restarts"`
	LastReload       *Reload `json:"last_reload,omitempty"`
	// RestartsInPlace counts the restarts (a part of Restarts) made in place after a
	// crash, on the listening sockets halod held, the VIP kept; RestartingInPlace is
	// true while one is under way.
	RestartsInPlace   int  `json:"restarts_in_place"`
	RestartingInPlace bool `json:"restarting_in_place,omitempty"`
	// HeldSockets is how many of HAProxy's listening sockets halod holds copies of, for
	// a restart in place (0: a crash fails over).
	HeldSockets int `json:"held_sockets"`
	// ReloadsByResult counts reload attempts by result (ok, invalid, failed, timeout).
	ReloadsByResult map[string]uint64 `json:"reloads_by_result,omitempty"`
	// CheckFailures counts failed health checks by kind (timeout, connect, stopping,
	// frontend, backend, protocol): a small fixed set, fit for a metric label.
	CheckFailures map[string]uint64 `json:"check_failures,omitempty"`
	// CheckDuration is the distribution of health-check durations.
	CheckDuration *Histogram `json:"check_duration,omitempty"`
}

// Histogram is a cumulative histogram, as Prometheus wants it.
type Histogram struct {
	// Bounds are the buckets' upper bounds in seconds; Counts[i] counts observations
	// <= Bounds[i] (cumulative).
	Bounds []float64 `json:"bounds"`
	Counts []uint64  `json:"counts"`
	Count  uint64    `json:"count"`
	Sum    float64   `json:"sum"`
}

// Reload describes one reload attempt.
type Reload struct {
	At      time.Time `json:"at"`
	OK      bool      `json:"ok"`
	Result  string    `json:"result"`
	Seconds float64   `json:"seconds"`
	Message string    `json:"message,omitempty"`
}

// InstanceStatus is one VRRP instance in the snapshot.
type InstanceStatus struct {
	Name      string `json:"name"`
	Interface string `json:"interface"`
	VRID      int    `json:"vrid"`
	Version   int    `json:"version"`
	// State is INIT, BACKUP, MASTER or FAULT, as keepalived logs them.
	State string    `json:"state"`
	Since time.Time `json:"since,omitzero"`
	// Priority is the configured base priority; EffectivePriority what is advertised now.
	Priority          int      `json:"priority"`
	EffectivePriority int      `json:"effective_priority"`
	VIPs              []string `json:"vips"`
	HoldsVIPs         bool     `json:"holds_vips"`
	// MasterSeen is the address of the master last heard (ours when we are master), and
	// MasterPriority the priority it advertised.
	MasterSeen     string `json:"master_seen,omitempty"`
	MasterPriority int    `json:"master_priority,omitempty"`
	// Peers are the routers heard advertising in the last minute (at most 8): in VRRP
	// only a master advertises, so a backup lists the master, a master lists a rival only
	// in a split brain.
	Peers []PeerStatus `json:"peers,omitempty"`
	// Resigned: `haloctl resign` holds this instance in BACKUP under a master it would
	// preempt, until that master fails or `haloctl resume`. Maintenance: the node's
	// maintenance holds it out of MASTER. Both are sticky states an operator set.
	Resigned    bool `json:"resigned"`
	Maintenance bool `json:"maintenance"`
	// Faults lists why the instance is in FAULT ("haproxy: stats socket: timeout").
	Faults          []string `json:"faults,omitempty"`
	SyncGroup       string   `json:"sync_group,omitempty"`
	AdvertsSent     uint64   `json:"adverts_sent"`
	AdvertsReceived uint64   `json:"adverts_received"`
	InvalidPackets  uint64   `json:"invalid_packets"`
	Transitions     uint64   `json:"transitions"`
	// InvalidByReason counts dropped packets by reason (checksum, ttl, auth, ...).
	InvalidByReason map[string]uint64 `json:"invalid_by_reason,omitempty"`
	// HookRuns counts notify hooks started; HookFailures those that failed or timed out.
	HookRuns     uint64 `json:"hook_runs"`
	HookFailures uint64 `json:"hook_failures"`
	// VIPErrors counts failed VIP additions and removals; SendErrors failed adverts.
	VIPErrors uint64 `json:"vip_errors"`
	// VIPRestores counts VIPs found removed behind halod's back while MASTER and put back.
	VIPRestores uint64 `json:"vip_restores"`
	SendErrors  uint64 `json:"send_errors"`
	// TransitionCounts counts state changes by from and to.
	TransitionCounts []TransitionCount `json:"transition_counts,omitempty"`
}

// PeerStatus is another router heard on an instance's virtual router.
type PeerStatus struct {
	Address  string `json:"address"`
	Priority int    `json:"priority"`
	// IntervalSeconds is the advert interval it advertises.
	IntervalSeconds float64 `json:"interval_seconds"`
	// LastAdvert is when its last advert arrived; AgeSeconds how long before the snapshot.
	LastAdvert time.Time `json:"last_advert"`
	AgeSeconds float64   `json:"age_seconds"`
}

// TransitionCount counts one kind of state change.
type TransitionCount struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Count uint64 `json:"count"`
}

// SyncGroupStatus is one sync group in the snapshot.
type SyncGroupStatus struct {
	Name      string    `json:"name"`
	Instances []string  `json:"instances"`
	State     string    `json:"state"`
	Since     time.Time `json:"since,omitzero"`
}

// Healthy reports whether the node is as configured and well: HAProxy healthy, no instance
// in FAULT or INIT (a failed instance waits in INIT) or resigned, not in maintenance, and the
// configuration on disk was valid at the last reload. haloctl's exit code follows it.
func (s *Status) Healthy() bool {
	if !s.HAProxy.Healthy || s.Maintenance || !s.ConfigValid || !s.BGP.healthy() {
		return false
	}
	for _, in := range s.Instances {
		if in.State == "FAULT" || in.State == "INIT" || in.Resigned {
			return false
		}
	}
	return true
}

// WriteTable renders the snapshot for people, in the spirit of `supervisorctl status`.
func (s *Status) WriteTable(w io.Writer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if s.Hostname != "" {
		fmt.Fprintf(tw, "node\t%s\thalod %s, %s\n", s.Hostname, s.Version, s.ConfigFile)
	}
	h := s.HAProxy
	health := "HEALTHY"
	switch {
	case h.RestartingInPlace:
		health = "RESTARTING"
	case !h.Running && h.Mode == "managed":
		health = "STOPPED"
	case h.Degraded:
		health = "DEGRADED"
	case !h.Healthy:
		health = "UNHEALTHY"
	}
	desc := []string{h.Mode}
	if h.PID > 0 {
		desc = append(desc, fmt.Sprintf("pid %d", h.PID))
	}
	if !h.StartedAt.IsZero() {
		desc = append(desc, "uptime "+clock(now.Sub(h.StartedAt)))
	}
	if h.Reason != "" {
		desc = append(desc, h.Reason)
	}
	if h.RestartsInPlace > 0 {
		desc = append(desc, fmt.Sprintf("restarted in place %d×", h.RestartsInPlace))
	}
	if r := h.LastReload; r != nil {
		res := "ok"
		if !r.OK {
			res = r.Result
		}
		desc = append(desc, fmt.Sprintf("last reload %s ago %s", clock(now.Sub(r.At)), res))
	}
	fmt.Fprintf(tw, "haproxy\t%s\t%s\n", health, strings.Join(desc, ", "))
	for _, in := range s.Instances {
		desc := []string{fmt.Sprintf("%s vrid %d", in.Interface, in.VRID)}
		if !in.Since.IsZero() {
			desc = append(desc, "since "+clock(now.Sub(in.Since)))
		}
		desc = append(desc, fmt.Sprintf("prio %d/%d", in.Priority, in.EffectivePriority))
		vips := strings.Join(in.VIPs, " ")
		if in.HoldsVIPs {
			desc = append(desc, "holds "+vips)
		} else {
			desc = append(desc, "vips "+vips+" (not held)")
		}
		if in.MasterSeen != "" && in.MasterPriority > 0 {
			desc = append(desc, fmt.Sprintf("master %s prio %d", in.MasterSeen, in.MasterPriority))
		} else if in.MasterSeen != "" {
			desc = append(desc, "master "+in.MasterSeen)
		}
		if len(in.Peers) > 0 {
			desc = append(desc, "heard "+peerList(in.Peers, now))
		}
		if in.Resigned {
			desc = append(desc, fmt.Sprintf("RESIGNED: stays BACKUP under the current master until it fails or `haloctl resume %s`", in.Name))
		}
		if in.Maintenance {
			desc = append(desc, "in maintenance")
		}
		if len(in.Faults) > 0 {
			desc = append(desc, "fault: "+strings.Join(in.Faults, "; "))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", in.Name, in.State, strings.Join(desc, ", "))
	}
	for _, g := range s.SyncGroups {
		desc := "sync group of " + strings.Join(g.Instances, ", ")
		if !g.Since.IsZero() {
			desc += ", since " + clock(now.Sub(g.Since))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Name, g.State, desc)
	}
	s.BGP.writeTable(tw, now)
	if s.Maintenance {
		fmt.Fprintf(tw, "node\tMAINTENANCE\tkept out of MASTER until `haloctl maintenance off`\n")
	}
	return tw.Flush()
}

// peerList renders the peers heard as "192.0.2.12 prio 100 0.3s ago".
func peerList(peers []PeerStatus, now time.Time) string {
	out := make([]string, len(peers))
	for i, p := range peers {
		age := now.Sub(p.LastAdvert)
		ago := clock(age)
		if age < 10*time.Second {
			ago = fmt.Sprintf("%.1fs", max(age, 0).Seconds())
		}
		out[i] = fmt.Sprintf("%s prio %d %s ago", p.Address, p.Priority, ago)
	}
	return strings.Join(out, "; ")
}

// clock formats a duration as supervisorctl does, H:MM:SS (days in front when long).
func clock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	hms := fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
	if days > 0 {
		return fmt.Sprintf("%dd %s", days, hms)
	}
	return hms
}
