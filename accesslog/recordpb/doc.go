// Package recordpb holds the protobuf form of the meshtel access-log record
// (--kafka-encoding=proto), generated from record.proto.
package recordpb

//go:generate sh -c "cd ../.. && protoc --go_out=. --go_opt=module=github.com/meshtel/meshtel accesslog/recordpb/record.proto"
