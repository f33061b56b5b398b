// etcd for the cluster tests: the server module's etcdmain, at the version
// the pinned Kubernetes release is built and tested against (its go.mod).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
