// Package backoff is the one wait between the attempts of every retry
// loop: CSI calls, ready polling, download resumes. Delays grow by a
// factor up to a cap, move by a random fraction so that plugins retrying
// together spread out, and end early when the context does.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy says how long to wait between attempts.
type Policy struct {
	Initial    time.Duration // the first delay
	Max        time.Duration // no delay is longer, jitter included (required)
	Multiplier float64       // each delay is the one before times this; below 1 counts as 1
	Jitter     float64       // each delay moves by up to ± this fraction of itself, in [0, 1]
}

// Backoff is one run of a Policy: the delays of one retry loop. It is not
// safe for concurrent use.
type Backoff struct {
	p    Policy
	base time.Duration // the next delay before jitter
	rand func() float64
}

// Start begins a run at the policy's first delay.
func (p Policy) Start() *Backoff {
	return &Backoff{p: p, base: min(p.Initial, p.Max), rand: rand.Float64}
}

// Next returns the next delay and moves on to the one after.
func (b *Backoff) Next() time.Duration {
	d := b.base
	if j := min(max(b.p.Jitter, 0), 1); j > 0 {
		d = time.Duration(float64(d) * (1 + j*(2*b.rand()-1)))
	}
	b.base = min(time.Duration(float64(b.base)*max(b.p.Multiplier, 1)), b.p.Max)
	return min(d, b.p.Max)
}

// Wait sleeps the next delay. It returns false, at once, when ctx ends
// first or has already ended: the caller stops retrying.
func (b *Backoff) Wait(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
