//go:build !race

package sli

const raceEnabled = false
