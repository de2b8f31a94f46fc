package health

// Freeze stops the heartbeat without deregistering, as a killed process
// would: the session's own deadline still fires locally.
func (s *Session) Freeze() { s.frozen.Store(true) }
