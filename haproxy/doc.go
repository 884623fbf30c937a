// Package haproxy runs and watches the local HAProxy: it starts it in master-worker mode
// (or attaches to one run elsewhere), judges its health through the runtime API with a
// bounded timeout, validates haproxy.cfg before every reload and verifies each reload
// through the master CLI. It knows nothing of VRRP.
package haproxy
