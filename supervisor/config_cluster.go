package supervisor

// checkCluster applies the rule of instance names to the cluster name: it becomes a
// metric label that alert rules group by, so a space or a control character there would
// only make a label nobody can type.
func (c *Config) checkCluster(bad func(path, format string, args ...any)) {
	if c.Cluster == "" {
		return
	}
	if msg := badName(c.Cluster); msg != "" {
		bad("cluster", "%s", msg)
	}
}
