package kafkasink

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestLaneErrors(t *testing.T) {
	boom, down := errors.New("boom"), io.ErrUnexpectedEOF
	byLane := [][]int{{0, 3}, {1}, {}, {2, 4}}
	for _, tt := range []struct {
		name string
		errs []error
		want []error // per message; nil slice: no error at all
		same error   // the error returned as is, when every lane failed alike
	}{
		{name: "all delivered", errs: []error{nil, nil, nil, nil}},
		{name: "every lane timed out", errs: []error{context.DeadlineExceeded, context.DeadlineExceeded, nil, context.DeadlineExceeded},
			same: context.DeadlineExceeded},
		{name: "one lane down", errs: []error{nil, down, nil, nil}, want: []error{nil, down, nil, nil, nil}},
		{name: "per message in a lane", errs: []error{kafka.WriteErrors{nil, boom}, nil, nil, down},
			want: []error{nil, nil, down, boom, down}},
		{name: "lanes failing differently", errs: []error{boom, down, nil, boom}, want: []error{boom, down, boom, boom, boom}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := laneErrors(5, byLane, tt.errs)
			switch {
			case tt.same != nil:
				if err != tt.same {
					t.Errorf("got %v, want %v", err, tt.same)
				}
			case tt.want == nil:
				if err != nil {
					t.Errorf("got %v, want none", err)
				}
			default:
				var werrs kafka.WriteErrors
				if !errors.As(err, &werrs) || len(werrs) != 5 {
					t.Fatalf("got %v, want per-message errors", err)
				}
				for i := range werrs {
					if werrs[i] != tt.want[i] {
						t.Errorf("message %d: %v, want %v", i, werrs[i], tt.want[i])
					}
				}
			}
		})
	}
}

// A key always takes the same lane, and keys spread over all of them.
func TestLaneOf(t *testing.T) {
	used := map[int]bool{}
	for i := range 100 {
		key := []byte{byte(i), 'k'}
		l := laneOf(key, 4)
		if l != laneOf(key, 4) || l < 0 || l >= 4 {
			t.Fatalf("lane %d for %q", l, key)
		}
		used[l] = true
	}
	if len(used) != 4 {
		t.Errorf("100 keys use lanes %v of 4", used)
	}
}
