package supervisor

import (
	"errors"
	"fmt"

	"github.com/halo-lb/halo/bgp"
	"github.com/halo-lb/halo/vrrp"
)

// Cleanup removes every VIP of cfg's instances from its interface: what a halod that died
// without releasing them (SIGKILL, a crash whose restart failed) left behind, while the
// backup also holds them. It is for `halod cleanup`, which the unit runs once halod will
// not come back; a quick restart must not run it, since the restarted halod resumes with
// the VIPs it finds. It returns the instances it cleaned.
func Cleanup(cfg *Config) ([]string, error) {
	var done []string
	var errs []error
	for _, ic := range cfg.VRRP.Instances {
		o := vrrp.NewNetlinkOwner(ic.Interface, ic.VIPs)
		err := o.RemoveVIPs()
		o.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("instance %s: %w", ic.Name, err))
			continue
		}
		done = append(done, ic.Name)
	}
	if cfg.BGP != nil {
		if err := bgp.NewNetlinkBinder(cfg.BGP.Interface, nil).Unbind(cfg.BGP.ServicePrefixes()); err != nil {
			errs = append(errs, fmt.Errorf("bgp service addresses: %w", err))
		} else {
			done = append(done, "bgp")
		}
	}
	return done, errors.Join(errs...)
}
