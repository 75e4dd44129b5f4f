//go:build s3csi_broken_handshake

package veleroplugin

import plugin "github.com/hashicorp/go-plugin"

// handshake, in a build with the tag s3csi_broken_handshake, claims a
// protocol version that no Velero host speaks. `make compat` builds the
// plugin this way too and requires every cell of that build to fail, so
// that its table cannot be green without the host's handshake having run.
// Never in a release build.
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  3,
	MagicCookieKey:   "VELERO_PLUGIN",
	MagicCookieValue: "hello",
}
