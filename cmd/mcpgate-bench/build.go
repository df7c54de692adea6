package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	buildTimeout   = 6 * time.Minute // cold builds (SQLite, CEL) are slow on 2 cores
	upstreamModule = "github.com/modelcontextprotocol/go-sdk/conformance/everything-server"
)

// binaries are the executables of one run.
type binaries struct {
	gateway    string // ./cmd/mcpgate
	profiled   string // ./cmd/mcpgate plus a net/http/pprof listener (overlay), "" if not built
	everything string // the Go SDK everything-server
	self       string // this harness: -upstream and -reverseproxy modes
}

// pprofOverlay is added to package main of ./cmd/mcpgate at build time only
// (go build -overlay; nothing in the tree changes): with
// MCPGATE_BENCH_PPROF=ADDR the gateway serves net/http/pprof on ADDR, on
// its own listener, apart from the gateway's handler.
const pprofOverlay = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("MCPGATE_BENCH_PPROF"); addr != "" {
		go http.ListenAndServe(addr, http.DefaultServeMux)
	}
}
`

// repoRoot finds the directory of mcpgate's go.mod above the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/mcpgate/mcpgate\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run from inside the mcpgate checkout: no go.mod of github.com/mcpgate/mcpgate above the working directory")
		}
		dir = parent
	}
}

// exportRev writes the tree of a committed revision (git archive) into a
// directory of the run and returns it, so that the binaries are built from
// that commit rather than from a working tree others may be editing.
func exportRev(ctx context.Context, root, rev string) (string, string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", rev+"^{commit}").Output()
	if err != nil {
		return "", "", fmt.Errorf("git rev-parse %s: %w", rev, err)
	}
	commit := strings.TrimSpace(string(out))
	dir := filepath.Join(runDir, "src-"+commit)
	cmd := exec.CommandContext(ctx, "git", "-C", root, "archive", "--format=tar", commit)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return "", "", err
	}
	if err := cmd.Start(); err != nil {
		return "", "", err
	}
	tr := tar.NewReader(pipe)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			cmd.Wait()
			return "", "", fmt.Errorf("git archive %s: %w", commit, err)
		}
		name := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(name, dir+string(filepath.Separator)) {
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(name, 0o755)
		case tar.TypeReg:
			if err = os.MkdirAll(filepath.Dir(name), 0o755); err == nil {
				var f *os.File
				if f, err = os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644); err == nil {
					_, err = io.Copy(f, tr)
					if cerr := f.Close(); err == nil {
						err = cerr
					}
				}
			}
		}
		if err != nil {
			cmd.Wait()
			return "", "", err
		}
	}
	if err := cmd.Wait(); err != nil {
		return "", "", fmt.Errorf("git archive %s: %w", commit, err)
	}
	return dir, commit, nil
}

// dirtyFiles lists the files of the working tree that differ from HEAD,
// except the harness's own.
func dirtyFiles(root string) []string {
	out, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	if err != nil {
		return nil
	}
	var files []string
	for _, line := range strings.Split(string(out), "\n") {
		if len(line) > 3 {
			f := strings.TrimSpace(line[3:])
			if !strings.HasPrefix(f, "cmd/mcpgate-bench/") && f != "BENCHMARKS.md" && !strings.HasPrefix(f, "docs/benchmarks/") {
				files = append(files, f)
			}
		}
	}
	return files
}

// build builds the gateway, the everything-server and, when asked, the
// profiling variant of the gateway, side by side.
func build(ctx context.Context, root string, profiled bool) (binaries, error) {
	self, err := os.Executable()
	if err != nil {
		return binaries{}, err
	}
	b := binaries{
		gateway:    filepath.Join(runDir, "mcpgate"),
		everything: filepath.Join(runDir, "everything-server"),
		self:       self,
	}
	type job struct{ args []string }
	jobs := []job{
		{[]string{"build", "-o", b.gateway, "./cmd/mcpgate"}},
		{[]string{"build", "-o", b.everything, upstreamModule}},
	}
	if profiled {
		b.profiled = filepath.Join(runDir, "mcpgate-pprof")
		src := filepath.Join(runDir, "zz_bench_pprof.go")
		if err := os.WriteFile(src, []byte(pprofOverlay), 0o600); err != nil {
			return b, err
		}
		ov, _ := json.Marshal(map[string]any{"Replace": map[string]string{
			filepath.Join(root, "cmd", "mcpgate", "zz_bench_pprof.go"): src,
		}})
		ovPath := filepath.Join(runDir, "overlay.json")
		if err := os.WriteFile(ovPath, ov, 0o600); err != nil {
			return b, err
		}
		jobs = append(jobs, job{[]string{"build", "-overlay", ovPath, "-o", b.profiled, "./cmd/mcpgate"}})
	}
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, "go", j.args...)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go %s: %v\n%s", strings.Join(j.args, " "), err, out)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// machine describes where the run happened.
type machine struct {
	nproc     int
	cpuModel  string
	memTotal  string
	goVersion string
	kernel    string
	nofile    string
	gomaxproc int
	commit    string
}

func describeMachine(root string) machine {
	m := machine{nproc: runtime.NumCPU(), gomaxproc: runtime.GOMAXPROCS(0), goVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpuModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		var kb int64
		fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "MemTotal:")), "%d", &kb)
		m.memTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		m.kernel = charsToString(u.Sysname[:]) + " " + charsToString(u.Release[:])
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		m.nofile = fmt.Sprintf("%d (hard %d)", rl.Cur, rl.Max)
	}
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.commit = strings.TrimSpace(string(out))
	}
	return m
}

func charsToString[T int8 | uint8](cs []T) string {
	var b []byte
	for _, c := range cs {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// raiseNOFILE raises the harness's open-file limit (inherited by every
// child) as far as the hard limit allows, trying to raise the hard limit
// first. It returns the soft limit in force.
func raiseNOFILE(want uint64) (uint64, string) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err.Error()
	}
	note := ""
	if rl.Max < want {
		try := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &try); err == nil {
			return want, ""
		} else {
			note = fmt.Sprintf("the hard RLIMIT_NOFILE is %d and raising it to %d failed (%v)", rl.Max, want, err)
		}
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err.Error()
	}
	return rl.Cur, note
}
