package kafkatest

import (
	"net"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Fake starts an in-process kfake broker (one node, topic auto-creation off)
// with topics created with [DefaultPartitions] partitions. Its state lives in
// a temporary directory, so [Broker.Restart] brings the same topics and
// records back on the same port.
func Fake(t testing.TB, topics ...string) *Broker {
	t.Helper()
	f := &fakeBroker{dir: t.TempDir(), topics: topics}
	f.start(t)
	t.Cleanup(func() { f.stop(t) })
	return &Broker{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(f.port)), impl: f}
}

type fakeBroker struct {
	dir    string
	topics []string
	port   int            // 0 until the first start picks one
	c      *kfake.Cluster // nil while stopped
}

func (f *fakeBroker) isReal() bool { return false }

func (f *fakeBroker) start(t testing.TB) {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DataDir(f.dir)}
	if f.port == 0 {
		// Topics are seeded once; a restart reloads them from the data dir.
		opts = append(opts, kfake.SeedTopics(DefaultPartitions, f.topics...))
	} else {
		opts = append(opts, kfake.Ports(f.port))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kafkatest: start kfake: %v", err)
	}
	f.c = c
	if f.port == 0 {
		_, port, err := net.SplitHostPort(c.ListenAddrs()[0])
		if err != nil {
			t.Fatalf("kafkatest: kfake address: %v", err)
		}
		f.port, _ = strconv.Atoi(port)
	}
}

// stop closes the cluster, which saves its state to the data dir first.
func (f *fakeBroker) stop(testing.TB) {
	if f.c != nil {
		f.c.Close()
		f.c = nil
	}
}

func (f *fakeBroker) kill9(t testing.TB) { f.stop(t) }
