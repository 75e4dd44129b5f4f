//go:build tools

// Package kube pins the Kubernetes server make e2e builds.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
)
