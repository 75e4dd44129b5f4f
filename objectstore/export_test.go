package objectstore

// The process-wide budget's counts, for the tests of the external package.

// BudgetPeak is the most bytes the budget had given out and kept at once
// since ResetBudgetPeak.
func BudgetPeak() int64 {
	buffers.mu.Lock()
	defer buffers.mu.Unlock()
	return buffers.peak
}

// ResetBudgetPeak starts a new peak from what is held now.
func ResetBudgetPeak() {
	buffers.mu.Lock()
	defer buffers.mu.Unlock()
	buffers.peak = buffers.held + buffers.idleN
	smallBuffers.mu.Lock()
	defer smallBuffers.mu.Unlock()
	smallBuffers.peak = smallBuffers.held
}

// BudgetHeld is the bytes given out now.
func BudgetHeld() int64 {
	buffers.mu.Lock()
	defer buffers.mu.Unlock()
	return buffers.held
}

// RoleExpiryWindow is how long before a role session's expiry the store
// assumes the role again.
const RoleExpiryWindow = roleExpiryWindow

// SmallBufferPeak is the most bytes of small-body buffers given out at
// once since ResetBudgetPeak.
func SmallBufferPeak() int64 {
	smallBuffers.mu.Lock()
	defer smallBuffers.mu.Unlock()
	return smallBuffers.peak
}

// SmallBufferHeld is the bytes of small-body buffers given out now.
func SmallBufferHeld() int64 {
	smallBuffers.mu.Lock()
	defer smallBuffers.mu.Unlock()
	return smallBuffers.held
}

// BudgetKept is the bytes given out and kept for reuse now.
func BudgetKept() int64 {
	buffers.mu.Lock()
	defer buffers.mu.Unlock()
	return buffers.held + buffers.idleN
}
