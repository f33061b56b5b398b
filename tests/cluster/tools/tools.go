//go:build tools

// Keeps the built commands' packages in go.mod/go.sum; nothing imports this.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
