package accesslog

import "github.com/meshtel/meshtel/catalog"

// binding ties a stream's verified identity to the services it may log
// for: a service whose catalog entry lists spiffe identities takes records
// only from those, so a compromised sidecar cannot burn another team's
// error budget. It applies to streams of mTLS-verified peers; without
// client verification there is no identity to bind, and alsd warns at
// start that senders are unauthenticated.
type binding struct {
	verified bool
	allowed  map[string]bool // service → the stream's principal may log for it
	warned   bool
}

// allows reports whether principal may log records of service.
func (b *binding) allows(cat *catalog.Catalog, service, principal string) bool {
	if ok, seen := b.allowed[service]; seen {
		return ok
	}
	ok := true
	if s := cat.Lookup(service); s != nil && s.Name == service && len(s.SPIFFE) > 0 {
		ok = false
		for _, id := range s.SPIFFE {
			if id == principal {
				ok = true
				break
			}
		}
	}
	if b.allowed == nil {
		b.allowed = map[string]bool{}
	} else if len(b.allowed) >= 1024 {
		clear(b.allowed) // a stream may name any number of clusters
	}
	b.allowed[service] = ok
	return ok
}

// bindIdentity drops the first n converted records of st whose service
// the stream's identity may not log for, counting them, and returns how
// many are left (first in st.records, in order).
func (s *Server) bindIdentity(st *streamState, n int) int {
	if !st.bind.verified {
		return n
	}
	kept := 0
	var refused string
	for i := range n {
		r := &st.records[i]
		if !st.bind.allows(s.cfg.Converter.Catalog, r.Service, st.id.Principal) {
			refused = r.Service
			continue
		}
		if i != kept {
			st.records[i], st.records[kept] = st.records[kept], st.records[i]
		}
		kept++
	}
	if d := n - kept; d > 0 {
		s.m.peersRefused.WithLabelValues("identity").Add(float64(d))
		if !st.bind.warned {
			st.bind.warned = true
			s.log.Warn("records refused: the catalog does not list the reporting Envoy's identity among the service's spiffe identities",
				"principal", st.id.Principal, "service", refused, "node_id", st.id.NodeID)
		}
	}
	return kept
}
