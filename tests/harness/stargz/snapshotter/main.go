// snapshotter is a minimal stargz snapshotter daemon for the tests: the library parts of
// containerd's stargz-snapshotter (Debian's golang-github-containerd-stargz-snapshotter-dev)
// served as a containerd proxy snapshotter on a unix socket. Upstream's daemon
// (containerd-stargz-grpc) is not packaged and its service package needs the Kubernetes CRI
// API, which Debian lacks; the tests need no more than this.
//
//	snapshotter -root DIR -address SOCKET [-no-background-fetch]
//
// Registries on loopback are reached over plain HTTP. SIGTERM or SIGINT unmounts every lazy
// layer (FUSE) and exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/contrib/snapshotservice"
	"github.com/containerd/containerd/reference"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/containerd/stargz-snapshotter/fs"
	"github.com/containerd/stargz-snapshotter/fs/config"
	"github.com/containerd/stargz-snapshotter/fs/layer"
	"github.com/containerd/stargz-snapshotter/fs/source"
	"github.com/containerd/stargz-snapshotter/snapshot"
	"google.golang.org/grpc"
)

func main() {
	root := flag.String("root", "", "directory for the snapshots and the layer cache")
	address := flag.String("address", "", "unix socket to serve the snapshots API on")
	noBackgroundFetch := flag.Bool("no-background-fetch", false,
		"fetch only what is read or prefetched (tests counting fetched bytes)")
	flag.Parse()
	if *root == "" || *address == "" {
		fail("usage: snapshotter -root DIR -address SOCKET [-no-background-fetch]")
	}

	// fs/remote uses Client.Transport as is: a nil Transport (http.DefaultClient) panics on
	// the first lazy mount.
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	hosts := func(spec reference.Spec) ([]docker.RegistryHost, error) {
		host := spec.Hostname()
		scheme := "https"
		if isLoopback(host) {
			scheme = "http"
		}
		return []docker.RegistryHost{{
			Client:       client,
			Host:         host,
			Scheme:       scheme,
			Path:         "/v2",
			Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve,
		}}, nil
	}
	cfg := config.Config{NoPrometheus: true, NoBackgroundFetch: *noBackgroundFetch}
	filesystem, err := fs.NewFilesystem(filepath.Join(*root, "stargz"), cfg,
		fs.WithGetSources(source.FromDefaultLabels(hosts)),
		fs.WithOverlayOpaqueType(layer.OverlayOpaqueTrusted))
	if err != nil {
		fail("stargz filesystem: %v", err)
	}
	snapshotter, err := snapshot.NewSnapshotter(context.Background(),
		filepath.Join(*root, "snapshotter"), filesystem, snapshot.AsynchronousRemove)
	if err != nil {
		fail("snapshotter: %v", err)
	}
	if err := os.Remove(*address); err != nil && !os.IsNotExist(err) {
		fail("%v", err)
	}
	listener, err := net.Listen("unix", *address)
	if err != nil {
		fail("%v", err)
	}
	server := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(server, snapshotservice.FromSnapshotter(snapshotter))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		server.Stop()
	}()
	if err := server.Serve(listener); err != nil {
		fail("serving %s: %v", *address, err)
	}
	if err := snapshotter.Close(); err != nil {
		fail("closing the snapshotter: %v", err)
	}
}

func isLoopback(host string) bool {
	if name, _, err := net.SplitHostPort(host); err == nil {
		host = name
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "snapshotter: error: "+format+"\n", args...)
	os.Exit(1)
}
