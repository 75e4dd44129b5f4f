package relay

import (
	"fmt"

	"google.golang.org/grpc/mem"
)

// frame is one gRPC message as gRPC's own buffers: the relay never
// decodes a CSI request (it carries secrets), never re-encodes one, and
// never copies one. A received frame holds a reference to the buffers,
// which the send hands back to gRPC to free once written.
type frame struct{ data mem.BufferSlice }

// free drops a frame that was received but not sent on.
func (f *frame) free() {
	f.data.Free()
	f.data = nil
}

// rawCodec moves frames as they are. It is named "proto" so the driver
// sees the content type it expects.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	f, ok := v.(*frame)
	if !ok {
		return nil, fmt.Errorf("csi-relay codec: cannot send %T", v)
	}
	out := f.data // gRPC frees it after writing: the frame's reference goes with it
	f.data = nil
	return out, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*frame)
	if !ok {
		return fmt.Errorf("csi-relay codec: cannot receive into %T", v)
	}
	f.free()   // a frame received into twice keeps only the last
	data.Ref() // gRPC frees data when this returns; the frame keeps its own reference
	f.data = data
	return nil
}
