package supervisor

import "github.com/halo-lb/halo/bgp"

// CheckBGPEngine is `halod -t`'s word on the BGP engine: a bgp section needs halo-bgp
// where halod will look for it, and halod refuses to start without it.
func CheckBGPEngine(cfg *Config) error {
	if cfg.BGP == nil {
		return nil
	}
	_, err := bgp.LookEngine("")
	return err
}
