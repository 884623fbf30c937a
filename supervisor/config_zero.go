package supervisor

import "regexp"

// defaultedKeys are the keys, by full path (list indexes written []), whose zero value
// stands for "use the default": writing 0 for one of them is refused rather than silently
// replaced (priority: 0 is not priority 100). Full paths, so that a key of the same name
// elsewhere, where 0 means something, is not caught (TestZeroNeverBecomesADefault walks
// every numeric key of Config and fails for one missing here).
var defaultedKeys = map[string]bool{
	"haproxy.check.interval": true, "haproxy.check.timeout": true, "haproxy.check.fast_interval": true,
	"haproxy.check.rise": true, "haproxy.check.fall": true,
	"haproxy.reload_timeout": true, "haproxy.stop_timeout": true,
	"haproxy.restart.initial": true, "haproxy.restart.max": true, "haproxy.restart.stable": true,
	"haproxy.restart_in_place.within": true, "haproxy.restart_in_place.max_crashes": true,
	"haproxy.restart_in_place.window": true,
	"vrrp.instances[].version":        true, "vrrp.instances[].priority": true, "vrrp.instances[].advert_interval": true,
	"vrrp.instances[].garp.repeat": true, "vrrp.instances[].notify.timeout": true,
	"vrrp.sync_groups[].notify.timeout": true,
	"bgp.neighbors[].port":              true, "bgp.neighbors[].hold_time": true,
	"bgp.neighbors[].bfd.multiplier": true, "bgp.neighbors[].bfd.interval": true,
}

// listIndex matches the indexes of a field path, for keyPattern.
var listIndex = regexp.MustCompile(`\[\d+\]`)

// keyPattern turns a field path into its key in defaultedKeys: "vrrp.instances[0].priority"
// becomes "vrrp.instances[].priority".
func keyPattern(path string) string { return listIndex.ReplaceAllString(path, "[]") }
