package backoff

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

const ms = time.Millisecond

// delays returns the first n delays of a run of p, with rand fixed to r.
func delays(p Policy, r float64, n int) []time.Duration {
	b := p.Start()
	b.rand = func() float64 { return r }
	var out []time.Duration
	for range n {
		out = append(out, b.Next())
	}
	return out
}

func TestDelays(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
		r    float64 // what rand returns
		want []time.Duration
	}{
		{"doubling up to the cap", Policy{Initial: 100 * ms, Max: 1000 * ms, Multiplier: 2}, 0.5,
			[]time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1000 * ms, 1000 * ms}},
		{"cap below the first delay", Policy{Initial: 100 * ms, Max: 30 * ms, Multiplier: 2}, 0.5,
			[]time.Duration{30 * ms, 30 * ms, 30 * ms}},
		{"multiplier below 1 is constant", Policy{Initial: 100 * ms, Max: time.Second, Multiplier: 0.5}, 0.5,
			[]time.Duration{100 * ms, 100 * ms, 100 * ms}},
		{"jitter at its low end", Policy{Initial: 100 * ms, Max: time.Second, Multiplier: 2, Jitter: 0.2}, 0,
			[]time.Duration{80 * ms, 160 * ms, 320 * ms, 640 * ms, 800 * ms}},
		{"jitter at its high end stays under the cap", Policy{Initial: 100 * ms, Max: time.Second, Multiplier: 2, Jitter: 0.2}, 1,
			[]time.Duration{120 * ms, 240 * ms, 480 * ms, 960 * ms, 1000 * ms}},
		{"jitter above 1 counts as 1", Policy{Initial: 100 * ms, Max: time.Second, Multiplier: 1, Jitter: 3}, 0,
			[]time.Duration{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, delays(tt.p, tt.r, len(tt.want)))
		})
	}
}

func TestJitterStaysInBounds(t *testing.T) {
	p := Policy{Initial: 100 * ms, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2}
	for run := range 200 {
		b := p.Start() // the real random source
		base := p.Initial
		for i := range 10 {
			d := b.Next()
			lo, hi := time.Duration(float64(base)*0.8), min(time.Duration(float64(base)*1.2), p.Max)
			assert.True(t, d >= lo && d <= hi, "run %d delay %d: %s outside [%s, %s]", run, i, d, lo, hi)
			base = min(2*base, p.Max)
		}
	}
}

func TestWait(t *testing.T) {
	t.Run("sleeps, then true", func(t *testing.T) {
		assert.True(t, Policy{Initial: ms, Max: ms}.Start().Wait(context.Background()))
	})
	t.Run("false at once on an ended context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		assert.False(t, Policy{Initial: time.Hour, Max: time.Hour}.Start().Wait(ctx))
	})
	t.Run("false when the context ends during the sleep", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan bool, 1)
		go func() { done <- Policy{Initial: time.Hour, Max: time.Hour}.Start().Wait(ctx) }()
		cancel()
		select {
		case ok := <-done:
			assert.False(t, ok)
		case <-time.After(30 * time.Second): // a guard against a hang, not a timing assertion
			t.Fatal("Wait did not return after cancel")
		}
	})
}
