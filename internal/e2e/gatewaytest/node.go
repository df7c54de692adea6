package gatewaytest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const npmCITimeout = 4 * time.Minute

// Node is the Node.js toolchain and the installed e2e/node package.
type Node struct {
	Bin string // the node executable
	Dir string // <repo>/e2e/node, with node_modules installed
}

// Script returns the path of a file in e2e/node.
func (n Node) Script(name string) string { return filepath.Join(n.Dir, name) }

// PackageBin returns the path of an installed package executable, the one
// npx would run (node_modules/.bin/NAME).
func (n Node) PackageBin(name string) string {
	return filepath.Join(n.Dir, "node_modules", ".bin", name)
}

var (
	nodeMu   sync.Mutex
	nodeDone bool
	nodeInfo Node
	nodeErr  error
	nodeMiss string
)

// NodeModules returns the node toolchain with e2e/node's pinned packages
// installed, running `npm ci` there once if node_modules is missing or older
// than package-lock.json. Installs from several test binaries at once are
// serialised by a file lock. Missing node or npm makes the test Unavailable.
func NodeModules(t testing.TB) Node {
	t.Helper()
	nodeMu.Lock()
	defer nodeMu.Unlock()
	if !nodeDone {
		nodeDone = true
		nodeInfo, nodeMiss, nodeErr = installNode(RepoRoot(t))
	}
	if nodeMiss != "" {
		Unavailable(t, "%s", nodeMiss)
	}
	if nodeErr != nil {
		t.Fatalf("prepare e2e/node: %v", nodeErr)
	}
	return nodeInfo
}

func installNode(root string) (n Node, missing string, err error) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		return n, "node is not on PATH (the e2e clients need Node.js >= 20)", nil
	}
	npmBin, err := exec.LookPath("npm")
	if err != nil {
		return n, "npm is not on PATH (needed for `npm ci` in e2e/node)", nil
	}
	n = Node{Bin: nodeBin, Dir: filepath.Join(root, "e2e", "node")}

	ctx, cancel := context.WithTimeout(context.Background(), npmCITimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, nodeBin, "--version").Output()
	if err != nil {
		return n, "", fmt.Errorf("node --version: %w", err)
	}
	var major int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "v%d", &major); err != nil || major < 20 {
		return n, fmt.Sprintf("node %s is too old (the e2e clients need Node.js >= 20)", strings.TrimSpace(string(out))), nil
	}

	lock, err := os.OpenFile(filepath.Join(n.Dir, ".npm-ci.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return n, "", err
	}
	defer lock.Close()
	if err := flockWithin(ctx, lock); err != nil {
		return n, "", fmt.Errorf("lock e2e/node for npm ci: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	if installed(n.Dir) {
		return n, "", nil
	}
	cmd := exec.CommandContext(ctx, npmBin, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = n.Dir
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return n, "", fmt.Errorf("npm ci in %s (limit %v): %v\n%s", n.Dir, npmCITimeout, err, out)
	}
	if !installed(n.Dir) {
		return n, "", fmt.Errorf("npm ci in %s succeeded but node_modules/.package-lock.json is missing", n.Dir)
	}
	return n, "", nil
}

// installed reports whether node_modules matches package-lock.json: npm
// writes node_modules/.package-lock.json at the end of every install.
func installed(dir string) bool {
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false
	}
	hidden, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err != nil {
		return false
	}
	return !hidden.ModTime().Before(lock.ModTime())
}

// flockWithin takes an exclusive lock on f, giving up when ctx ends.
func flockWithin(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if err != syscall.EWOULDBLOCK {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
