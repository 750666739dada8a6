//go:build race

package sli

// raceEnabled: the race detector slows the single-goroutine simulations
// fifty-fold without finding anything in them.
const raceEnabled = true
