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
