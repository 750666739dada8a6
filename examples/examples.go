// Package examples holds sample inputs shipped with meshtel, embedded so
// commands and tests need no files on disk.
package examples

import _ "embed"

// Mesh is the demo mesh catalog (examples/mesh.yaml) that alsd --demo uses:
// the seed's my_website, some_service and redis_cache plus a small shop
// (checkout, payments, a gRPC catalogue, auth, reports, a database).
//
//go:embed mesh.yaml
var Mesh []byte
