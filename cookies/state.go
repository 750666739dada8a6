package cookies

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/axiomhq/hyperloglog"

	"github.com/meshtel/meshtel/cookies/httpcookie"
	"github.com/meshtel/meshtel/internal/atomicfile"
)

// StateFile is the checkpoint's name inside Config.StateDir.
const StateFile = "cookies.state"

// The checkpoint framing: magic, version, payload length, CRC-32C of the
// payload, then the payload (JSON). The JSON holds names, attributes,
// counts and HyperLogLog registers of salted hashes: no value, nothing a
// guessed value can be tested against once the process that salted them is
// gone.
const (
	stateMagic   = "MTCOOKIE"
	stateVersion = 1
	headerLen    = len(stateMagic) + 2 + 4 + 4
	maxStateLen  = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors of state decoding.
var (
	// ErrCorruptState reports a checkpoint that fails its framing or
	// checksum, or does not decode.
	ErrCorruptState = errors.New("corrupt cookie state")
	// ErrStateVersion reports a checkpoint written by an unknown version.
	ErrStateVersion = errors.New("unsupported cookie state version")
)

type stateV1 struct {
	SavedAt  time.Time      `json:"saved_at"`
	Services []stateService `json:"services"`
}

type stateService struct {
	Service     string            `json:"service"`
	Authorities []string          `json:"authorities,omitempty"`
	Malformed   map[string]uint64 `json:"malformed,omitempty"`
	Overflow    uint64            `json:"overflow,omitempty"`
	Cookies     []stateCookie     `json:"cookies"`
}

type stateCookie struct {
	Name        string            `json:"name"`
	Domain      string            `json:"domain,omitempty"`
	Path        string            `json:"path,omitempty"`
	Sources     uint8             `json:"sources"`
	Secure      bool              `json:"secure,omitempty"`
	HTTPOnly    bool              `json:"http_only,omitempty"`
	Partitioned bool              `json:"partitioned,omitempty"`
	SameSite    string            `json:"same_site,omitempty"`
	HasMaxAge   bool              `json:"has_max_age,omitempty"`
	MaxAgeS     int64             `json:"max_age_s,omitempty"`
	AttrsAt     int64             `json:"attrs_at,omitempty"`
	First       int64             `json:"first"`
	Last        int64             `json:"last"`
	Requests    uint64            `json:"requests,omitempty"`
	Responses   uint64            `json:"responses,omitempty"`
	Classes     map[string]uint64 `json:"classes,omitempty"`
	Values      []byte            `json:"values,omitempty"` // HyperLogLog sketch
}

// MarshalBinary encodes the inventory's state: versioned and checksummed,
// the format of the checkpoint file, for MergeState elsewhere.
func (inv *Inventory) MarshalBinary() ([]byte, error) {
	st := stateV1{SavedAt: inv.cfg.Now().UTC()}
	inv.mu.RLock()
	svcs := make([]*service, 0, len(inv.services))
	for _, s := range inv.services {
		svcs = append(svcs, s)
	}
	inv.mu.RUnlock()
	for _, s := range svcs {
		ss, err := s.state()
		if err != nil {
			return nil, err
		}
		st.Services = append(st.Services, ss)
	}
	slices.SortFunc(st.Services, func(a, b stateService) int { return cmp.Compare(a.Service, b.Service) })
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encoding cookie state: %w", err)
	}
	if len(payload) > maxStateLen {
		return nil, fmt.Errorf("cookie state of %d bytes exceeds %d", len(payload), maxStateLen)
	}
	out := make([]byte, headerLen, headerLen+len(payload))
	copy(out, stateMagic)
	binary.BigEndian.PutUint16(out[8:], stateVersion)
	binary.BigEndian.PutUint32(out[10:], uint32(len(payload)))
	binary.BigEndian.PutUint32(out[14:], crc32.Checksum(payload, castagnoli))
	return append(out, payload...), nil
}

func (s *service) state() (stateService, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := stateService{Service: s.name, Overflow: s.overflow, Cookies: make([]stateCookie, 0, len(s.entries))}
	for a := range s.authorities {
		ss.Authorities = append(ss.Authorities, a)
	}
	slices.Sort(ss.Authorities)
	for m, n := range s.malformed {
		if n > 0 {
			if ss.Malformed == nil {
				ss.Malformed = map[string]uint64{}
			}
			ss.Malformed[httpcookie.Malformed(m).String()] = n
		}
	}
	for _, e := range s.entries {
		values, err := e.values.sketch().MarshalBinary()
		if err != nil {
			return stateService{}, fmt.Errorf("encoding distinct values of cookie %q: %w", e.name, err)
		}
		sc := stateCookie{
			Name: e.name, Domain: e.domain, Path: e.path, Sources: e.sources,
			Secure: e.attrs.secure, HTTPOnly: e.attrs.httpOnly, Partitioned: e.attrs.partitioned,
			SameSite: sameSiteNames[e.attrs.sameSite], HasMaxAge: e.attrs.hasMaxAge, MaxAgeS: e.attrs.maxAgeS,
			AttrsAt: e.attrsAt, First: e.first, Last: e.last, Requests: e.requests, Responses: e.responses,
			Values: values,
		}
		for i, n := range e.classes {
			if n > 0 {
				if sc.Classes == nil {
					sc.Classes = map[string]uint64{}
				}
				sc.Classes[httpcookie.ValueClass(i).String()] = n
			}
		}
		ss.Cookies = append(ss.Cookies, sc)
	}
	slices.SortFunc(ss.Cookies, func(a, b stateCookie) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Domain, b.Domain), cmp.Compare(a.Path, b.Path))
	})
	return ss, nil
}

func decodeState(data []byte) (*stateV1, error) {
	if len(data) < headerLen || string(data[:len(stateMagic)]) != stateMagic {
		return nil, fmt.Errorf("%w: bad header", ErrCorruptState)
	}
	if v := binary.BigEndian.Uint16(data[8:]); v != stateVersion {
		return nil, fmt.Errorf("%w %d", ErrStateVersion, v)
	}
	n := binary.BigEndian.Uint32(data[10:])
	payload := data[headerLen:]
	if uint64(len(payload)) != uint64(n) {
		return nil, fmt.Errorf("%w: %d payload bytes, header says %d", ErrCorruptState, len(payload), n)
	}
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(data[14:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorruptState)
	}
	var st stateV1
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptState, err)
	}
	return &st, nil
}

// MergeState adds a state encoded by MarshalBinary (another instance's, or
// an older checkpoint) to the inventory: counts add up, first and last seen
// widen, attributes come from the later Set-Cookie, distinct values merge.
// Caps apply as to observations. Nothing is merged when data is invalid.
func (inv *Inventory) MergeState(data []byte) error {
	st, err := decodeState(data)
	if err != nil {
		return err
	}
	// Decode every sketch first, so a bad one merges nothing.
	entries := make([][]*entry, len(st.Services))
	for i, ss := range st.Services {
		for _, sc := range ss.Cookies {
			e, err := sc.entry()
			if err != nil {
				return fmt.Errorf("%w: service %q cookie %q: %w", ErrCorruptState, ss.Service, sc.Name, err)
			}
			entries[i] = append(entries[i], e)
		}
	}
	for i, ss := range st.Services {
		s := inv.service(ss.Service)
		if s == nil {
			inv.cfg.Logger.Warn("cookie state: services cap reached, service dropped", "service", ss.Service, "max_services", inv.cfg.MaxServices)
			continue
		}
		s.merge(ss, entries[i], inv.cfg.MaxNamesPerService)
	}
	return nil
}

func (sc stateCookie) entry() (*entry, error) {
	e := &entry{
		key:     key{sc.Name, sc.Domain, sc.Path},
		sources: sc.Sources & (1<<httpcookie.Request | 1<<httpcookie.Response),
		attrs: attrs{
			secure: sc.Secure, httpOnly: sc.HTTPOnly, partitioned: sc.Partitioned,
			hasMaxAge: sc.HasMaxAge, maxAgeS: sc.MaxAgeS, sameSite: sameSiteCode(sc.SameSite),
		},
		attrsAt: sc.AttrsAt, first: sc.First, last: sc.Last,
		requests: sc.Requests, responses: sc.Responses,
	}
	for name, n := range sc.Classes {
		if c, ok := httpcookie.ParseValueClass(name); ok {
			e.classes[c] += n
		}
	}
	if len(sc.Values) > 0 {
		var sk hyperloglog.Sketch
		if err := sk.UnmarshalBinary(sc.Values); err != nil {
			return nil, err
		}
		e.values.sk = newSketch()
		if err := e.values.sk.Merge(&sk); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (s *service) merge(ss stateService, entries []*entry, limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range ss.Authorities {
		s.noteAuthority(a)
	}
	for name, n := range ss.Malformed {
		if m, ok := httpcookie.ParseMalformed(name); ok {
			s.malformed[m] += n
		}
	}
	s.overflow += ss.Overflow
	for _, o := range entries {
		var target *entry
		if o.responses > 0 {
			if target = s.entries[o.key]; target == nil {
				target = s.newEntry(o.key, limit)
			}
		} else {
			target = s.requestEntry(o.name, limit)
		}
		if target == nil {
			s.overflow += o.requests + o.responses
			continue
		}
		_ = target.absorb(o) // both sketches have sketchPrecision
		s.foldOrphans(o.name)
	}
}

// foldOrphans moves the request-only entries of name into its first entry
// set by a response, as Observe does when a name's first Set-Cookie comes.
func (s *service) foldOrphans(name string) {
	list := s.byName[name]
	i := slices.IndexFunc(list, func(e *entry) bool { return e.responses > 0 })
	if i < 0 {
		return
	}
	owner := list[i]
	for _, e := range slices.Clone(list) {
		if e.responses == 0 {
			_ = owner.absorb(e)
			s.remove(e)
		}
	}
}

// Checkpoint writes the state to Config.StateDir atomically (a temporary
// file renamed over the old checkpoint). Without a StateDir it does nothing.
func (inv *Inventory) Checkpoint() error {
	if inv.cfg.StateDir == "" {
		return nil
	}
	inv.ckptMu.Lock()
	defer inv.ckptMu.Unlock()
	err := inv.writeCheckpoint()
	if err != nil {
		inv.metrics.checkpoints.WithLabelValues("error").Inc()
		inv.cfg.Logger.Error("cookie checkpoint failed", "dir", inv.cfg.StateDir, "err", err)
		return err
	}
	inv.metrics.checkpoints.WithLabelValues("ok").Inc()
	return nil
}

func (inv *Inventory) writeCheckpoint() error {
	data, err := inv.MarshalBinary()
	if err != nil {
		return err
	}
	path := filepath.Join(inv.cfg.StateDir, StateFile)
	if err := atomicfile.Write(path, data, 0o750); err != nil {
		return fmt.Errorf("writing cookie checkpoint %q: %w", path, err)
	}
	return nil
}

// restore merges the checkpoint into the (empty) inventory. A corrupt or
// unknown-version checkpoint is logged, moved aside for inspection and
// ignored: losing the inventory is better than refusing to start.
func (inv *Inventory) restore() error {
	if inv.cfg.StateDir == "" {
		return nil
	}
	path := filepath.Join(inv.cfg.StateDir, StateFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading cookie checkpoint: %w", err)
	}
	if err := inv.MergeState(data); err != nil {
		aside := path + ".corrupt"
		_ = os.Rename(path, aside)
		inv.metrics.corrupt.Inc()
		inv.cfg.Logger.Error("cookie checkpoint is corrupt or unreadable; starting with an empty inventory",
			"file", path, "moved_to", aside, "err", err)
		return nil
	}
	return nil
}
