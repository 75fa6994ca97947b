package engine

// Reload re-reads the configuration file and the flows and applies what
// changed; on error nothing changes.
func (e *Engine) Reload() error { return e.ReloadFlows() }
