// Package archtest holds no code: its test enforces meshtel's architecture
// on the import graph (README "Architecture"), so a change that links the
// ingest runtime into a generator, or Records into the SLI engine, fails CI.
package archtest
