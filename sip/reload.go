package sip

// Trunks can change while the engine runs (configuration reload): an
// INVITE in progress keeps the origin it was admitted with; the next one
// is admitted against the new list.

// SetTrunks replaces the trunks admitted by source address.
func (s *Server) SetTrunks(trunks []Trunk) {
	cp := append([]Trunk(nil), trunks...)
	s.trunks.Store(&cp)
}

// trunkList is the current trunks: the last SetTrunks, else Config.Trunks.
func (s *Server) trunkList() []Trunk {
	if p := s.trunks.Load(); p != nil {
		return *p
	}
	return s.cfg.Trunks
}
