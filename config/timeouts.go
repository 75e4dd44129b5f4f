package config

import "time"

// The object store's deadlines are requestTimeout, stallTimeout, or one
// of these, derived from them here and nowhere else: no call site
// multiplies a timeout of its own, so raising a key raises every deadline
// that follows from it.

// CompleteTimeout bounds CompleteMultipartUpload. Every other request
// without object data is answered at once, within requestTimeout; this
// one S3 answers only once it has joined the parts, which for a large
// object can take minutes (AWS answers 200 at once and sends whitespace
// until it is done): five requestTimeouts, 5m by default.
func (o *ObjectStore) CompleteTimeout() time.Duration { return 5 * o.RequestTimeout }

// ResponseHeaderTimeout is the HTTP transport's backstop for an answer
// that never starts. The store's own stall timer ends such a request
// after stallTimeout with an error saying so; the backstop is twice that,
// so it fires only where no stall timer runs (the SDK's credential
// requests).
func (o *ObjectStore) ResponseHeaderTimeout() time.Duration { return 2 * o.StallTimeout }
