// Package recordpb holds the protobuf form of the meshtel access-log record
// (--kafka-encoding=proto), generated from record.proto.
package recordpb

// Regenerate with Debian's protoc 3.21 (package protobuf-compiler; its
// google/protobuf/*.proto come with package libprotobuf-dev) and
// protoc-gen-go of the version in go.mod:
//go:generate sh -c "cd ../.. && protoc --go_out=. --go_opt=module=github.com/meshtel/meshtel --go_opt=Mgoogle/protobuf/timestamp.proto=google.golang.org/protobuf/types/known/timestamppb record/recordpb/record.proto"
