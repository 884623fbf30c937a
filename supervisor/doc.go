// Package supervisor is where halo's HAProxy side and VRRP side meet. It loads halo.yaml
// (each section validated by the package that owns it), runs the HAProxy manager and the
// VRRP instances and sync groups, turns HAProxy's health into each instance's fault or
// priority, serves the control socket haloctl talks to, and keeps the one status snapshot
// that haloctl and metrics/ both read.
//
// One loop applies health and pings systemd's watchdog; state-changing control requests
// (reload, maintenance, resign, resume) run one at a time on a worker of their own, so that
// a slow reload never delays a failover. Every change the snapshot shows moves its
// generation; a status request with Since waits for that (watch.go), which is how
// `haloctl watch` follows the node without a queue that could drop a change.
package supervisor
