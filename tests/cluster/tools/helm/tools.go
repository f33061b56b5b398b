//go:build tools

// Keeps helm's command package in go.mod/go.sum; nothing imports this.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
