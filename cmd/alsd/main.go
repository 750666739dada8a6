// Command alsd is meshtel's Envoy access-log sink: it receives Envoy's gRPC
// Access Log Service streams, produces one Kafka record per entry and keeps
// live SLIs, error budgets, a cookie inventory and the dependency edges of
// the mesh.
//
//	alsd [flags]              run the sink
//	alsd --demo               embedded Kafka, simulated Envoys, live summary
//	alsd simulate [flags]     drive a running alsd with simulated Envoy traffic
//	alsd report cookies|slo|dependencies   render reports from running alsd instances
//	alsd aggregate [flags]    consume Kafka in a consumer group, compute SLIs and cookies
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes (SPEC §1).
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// usageError marks errors that exit 2: bad flags, bad config.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// commandLineError marks the usage errors of the command line itself (an
// unknown command or flag, a bad flag value, a stray argument), after which
// run says where the help is; a bad catalog exits 2 too, but --help would
// not help there.
type commandLineError struct{ err error }

func (e commandLineError) Error() string { return e.err.Error() }
func (e commandLineError) Unwrap() error { return e.err }

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 && args[0] == "help" {
		args = []string{"--help"}
	}
	var err error
	switch {
	case len(args) > 0 && args[0] == "simulate":
		err = runSimulate(ctx, args[1:], stdout, stderr, getenv)
	case len(args) > 0 && args[0] == "report":
		err = runReport(ctx, args[1:], stdout, stderr, getenv)
	case len(args) > 0 && args[0] == "aggregate":
		err = runAggregate(ctx, args[1:], stdout, stderr, getenv)
	case len(args) > 0 && !isFlag(args[0]):
		err = usageError{commandLineError{fmt.Errorf("unknown command %q (commands: simulate, report, aggregate; or flags only to run the sink)", args[0])}}
	default:
		err = runServe(ctx, args, stdout, stderr, getenv)
	}
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "alsd: %v\n", err)
	if errors.As(err, new(commandLineError)) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", commandName(args))
	}
	if errors.As(err, new(usageError)) {
		return exitUsage
	}
	return exitError
}

// commandName is the command args run: "alsd" or "alsd report".
func commandName(args []string) string {
	if len(args) > 0 {
		switch args[0] {
		case "simulate", "report", "aggregate":
			return "alsd " + args[0]
		}
	}
	return "alsd"
}

func isFlag(s string) bool { return len(s) > 0 && s[0] == '-' }
