package testenv

import (
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// CSIFault is what a relay in a test does to one call instead of
// answering it. The call always reaches the driver first, so the driver
// carries it out: the faults are the answers a client sees when a create
// outlives its deadline, or when the driver fails after the work.
type CSIFault int

const (
	// LoseAnswer forwards the call and answers DEADLINE_EXCEEDED.
	LoseAnswer CSIFault = iota
	// HoldAnswer forwards the call and answers nothing until the caller's
	// deadline has passed (a driver slower than operationTimeout).
	HoldAnswer
	// FailInternal forwards the call and answers INTERNAL: a driver that
	// did the work, then failed.
	FailInternal
)

// CSIFaults scripts faults per full method name, in call order; calls
// past the script are forwarded as they are.
type CSIFaults struct {
	mu     sync.Mutex
	script map[string][]CSIFault
	calls  map[string]int
}

// Add appends faults for the next calls of method.
func (f *CSIFaults) Add(method string, faults ...CSIFault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.script == nil {
		f.script = map[string][]CSIFault{}
	}
	f.script[method] = append(f.script[method], faults...)
}

// Calls is how many calls of method reached the relay.
func (f *CSIFaults) Calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *CSIFaults) next(method string) (CSIFault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[method]++
	q := f.script[method]
	if len(q) == 0 {
		return 0, false
	}
	f.script[method] = q[1:]
	return q[0], true
}

// Option is the relay's server option that applies the script.
func (f *CSIFaults) Option() grpc.ServerOption {
	return grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		fault, ok := f.next(info.FullMethod)
		if !ok {
			return h(srv, ss)
		}
		if err := h(srv, lostAnswer{ss}); err != nil {
			return err
		}
		switch fault {
		case HoldAnswer:
			<-ss.Context().Done()
		case FailInternal:
			return status.Error(codes.Internal, "test fault: the driver did the work, then failed")
		}
		return status.Error(codes.DeadlineExceeded, "test fault: the answer was lost")
	})
}

// lostAnswer drops the driver's answer on its way back.
type lostAnswer struct{ grpc.ServerStream }

func (lostAnswer) SendMsg(any) error { return nil }
