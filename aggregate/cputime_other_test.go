//go:build !unix

package aggregate

// cpuTime is unknown here: the benchmark reports 0 cores.
func cpuTime() float64 { return 0 }
