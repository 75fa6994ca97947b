package sip

import (
	"net/netip"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotlinecc/hotline/media"
)

// How a dialled leg's media is opened: shared ports unless the peer needs
// a port of its own (media.Options).

// dialTarget is one contact Dial rings, with how its leg's media opens.
type dialTarget struct {
	uri   sipmsg.Uri
	media media.Options
}

// phoneMedia: a phone whose registered Contact names another address than
// its REGISTER came from is behind NAT; its media will be latched by IP
// only, which a port of its own keeps unambiguous.
func (s *Server) phoneMedia(user string, contact sipmsg.Uri) media.Options {
	var o media.Options
	cip, err := netip.ParseAddr(contact.Host)
	if err == nil {
		o.Peer = cip.Unmap()
	}
	for _, b := range s.reg.Contacts(user) {
		if contactKey(b.Contact) != contactKey(contact) {
			continue
		}
		if src, err := netip.ParseAddrPort(b.Source); err == nil {
			o.Peer = src.Addr().Unmap()
			o.OwnPort = !cip.IsValid() || cip.Unmap() != o.Peer
		}
	}
	return o
}

// trunkMedia: towards a trunk's outbound address, as the trunk says.
func (s *Server) trunkMedia(u sipmsg.Uri) media.Options {
	var o media.Options
	if ip, err := netip.ParseAddr(u.Host); err == nil {
		o.Peer = ip.Unmap()
	}
	for _, t := range s.cfg.Trunks {
		hostPort, _, _ := strings.Cut(t.Outbound, ";")
		if t.Outbound != "" && strings.EqualFold(hostPort, u.HostPort()) {
			o.OwnPort = t.OwnRTPPort
		}
	}
	return o
}
