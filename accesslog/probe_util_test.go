package accesslog

import "github.com/prometheus/client_golang/prometheus/testutil"

func testutilCounter(s *Sink) float64 { return testutil.ToFloat64(s.m.produced) }
