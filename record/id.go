package record

import (
	"errors"
	"fmt"
	"strconv"
)

// HeaderID is the Kafka header that names every message alsd produces
// (SPEC §2): "<ingester-id>:<sequence>". A message sent twice — a producer
// retry, a spool replay of a write that had landed — carries the same value,
// so consumers count each value once.
const HeaderID = "meshtel-id"

// HeaderPrev is the Kafka header that carries the sequence of the previous
// message with the same key (service) from the same ingester, in decimal;
// it is absent on the first message of a key since the ingester started.
// It links one service's messages into a chain, so a consumer can tell a
// sequence number it has not seen yet from one it has, with memory per
// service rather than per message: the sequence itself counts every record
// of the ingester, whatever its service and partition.
const HeaderPrev = "meshtel-prev"

// MaxIngesterLen bounds the length of an ingester id.
const MaxIngesterLen = 64

// ID is the identity of one accepted record: the ingester that accepted it
// and its sequence number there, in acceptance order, starting at 1. The
// zero ID means "not assigned yet".
type ID struct {
	Ingester string
	Seq      uint64
}

// IsZero reports whether id has not been assigned.
func (id ID) IsZero() bool { return id.Seq == 0 }

// String returns the HeaderID value.
func (id ID) String() string { return string(id.Append(nil)) }

// Append appends the HeaderID value to dst.
func (id ID) Append(dst []byte) []byte {
	dst = append(dst, id.Ingester...)
	dst = append(dst, ':')
	return strconv.AppendUint(dst, id.Seq, 10)
}

// CheckIngester returns an error unless s can be an ingester id: 1 to
// MaxIngesterLen characters of [A-Za-z0-9._-]. (A colon would make the
// header ambiguous; anything else, hard to put on a command line.)
func CheckIngester(s string) error {
	if s == "" || len(s) > MaxIngesterLen {
		return fmt.Errorf("ingester id %q: want 1 to %d characters", s, MaxIngesterLen)
	}
	for i := 0; i < len(s); i++ {
		if !ingesterByte(s[i]) {
			return fmt.Errorf("ingester id %q: character %q at %d is not one of A-Z a-z 0-9 . _ -", s, s[i], i)
		}
	}
	return nil
}

func ingesterByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// ErrBadID is wrapped by the errors of ParseID and ParseSeq.
var ErrBadID = errors.New("malformed meshtel-id")

// ParseID splits a HeaderID value into its ingester id and sequence. The
// ingester is a subslice of v: a consumer can look it up in a map without
// allocating.
func ParseID(v []byte) (ingester []byte, seq uint64, err error) {
	for i := 0; i < len(v); i++ {
		if v[i] == ':' {
			ingester = v[:i]
			if len(ingester) == 0 || len(ingester) > MaxIngesterLen {
				return nil, 0, fmt.Errorf("%w %q: ingester id of %d bytes", ErrBadID, v, len(ingester))
			}
			for _, c := range ingester {
				if !ingesterByte(c) {
					return nil, 0, fmt.Errorf("%w %q: byte %q in the ingester id", ErrBadID, v, c)
				}
			}
			seq, err = ParseSeq(v[i+1:])
			if err != nil {
				return nil, 0, err
			}
			return ingester, seq, nil
		}
	}
	return nil, 0, fmt.Errorf("%w %q: no colon", ErrBadID, v)
}

// ParseSeq parses a sequence number: decimal, 1 or more, no sign, no
// leading zeros (so every sequence has one spelling).
func ParseSeq(v []byte) (uint64, error) {
	if len(v) == 0 || len(v) > 20 || v[0] == '0' {
		return 0, fmt.Errorf("%w: sequence %q", ErrBadID, v)
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: sequence %q", ErrBadID, v)
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, fmt.Errorf("%w: sequence %q overflows", ErrBadID, v)
		}
		n = n*10 + d
	}
	return n, nil
}
