// Package httpcookie parses the Cookie and Set-Cookie headers Envoy logs into
// Observations: a cookie's name, its attributes, the class of its value
// (ValueClass) and a salted hash of the value — never the value itself.
//
// It runs on the ingest hot path for every access-log entry, so it does not
// allocate per cookie, and it is a leaf: receivers import it to reduce
// headers while converting, without linking the inventory (package cookies),
// its metrics or its checkpoints.
package httpcookie
