//go:build !s3csi_broken_handshake

package veleroplugin

import plugin "github.com/hashicorp/go-plugin"

// handshake is Velero's (framework.Handshake, the same from v1.14 to
// v1.18): protocol 2 and the cookie the host sets so that the binary knows
// it runs as a plugin.
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  2,
	MagicCookieKey:   "VELERO_PLUGIN",
	MagicCookieValue: "hello",
}
