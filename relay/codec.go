package relay

import (
	"fmt"

	"google.golang.org/grpc/mem"
)

// frame is one gRPC message as bytes: the relay never decodes a CSI
// request (it carries secrets) and never re-encodes one.
type frame struct{ data []byte }

// rawCodec moves frames as they are. It is named "proto" so the driver
// sees the content type it expects.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	f, ok := v.(*frame)
	if !ok {
		return nil, fmt.Errorf("csi-relay codec: cannot send %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(f.data)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*frame)
	if !ok {
		return fmt.Errorf("csi-relay codec: cannot receive into %T", v)
	}
	f.data = data.Materialize() // a copy: gRPC frees data when this returns
	return nil
}
