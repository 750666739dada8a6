// Package cookies builds a live inventory of the HTTP cookies a service mesh
// carries, for privacy and legal review, from the Cookie and Set-Cookie
// headers Envoy logs (SPEC §2, §5, §6).
//
// The Inventory aggregates the observations package httpcookie parses out
// of logged headers, per (service, name, domain, path); it derives the policy
// findings of SPEC §6, exports mesh_cookies{service,finding}, serves GET
// /api/cookies, checkpoints itself to a state directory and renders the md,
// csv and json reports and their weekly diff.
//
// What it deliberately does not do: it never keeps, logs, serializes or
// returns a cookie value. A value is classified and hashed in place while the
// header is parsed and then forgotten; only its ValueClass and a hash with a
// random per-process salt (used for distinct-value counts, never written
// anywhere) survive. It does not import the access-log package: callers hand
// it plain observations.
package cookies
