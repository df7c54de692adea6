package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bounds on child processes.
const (
	readyTimeout = 30 * time.Second
	stopGrace    = 5 * time.Second
)

// child is one process the harness started. Its output goes to a log file in
// the run directory, never through a pipe the harness would have to drain
// (that would put the harness's own CPU into the measured path).
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// children tracks every process started, so that all of them are stopped on
// every way out of the harness (normal end, error, signal, watchdog).
var children struct {
	mu   sync.Mutex
	list []*child
}

// startChild starts bin with args and env added to the harness's environment
// (without MCPGATE_*: a developer's settings must not leak into the gateway).
func startChild(name, bin string, args, env []string) (*child, error) {
	logPath := filepath.Join(runDir, strings.ReplaceAll(name, " ", "_")+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MCPGATE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Killed with the harness even if it dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	c := &child{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	children.mu.Lock()
	defer children.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	children.list = append(children.list, c)
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the child's process group, then SIGKILL after
// stopGrace.
func (c *child) stop() {
	if c.exited() {
		return
	}
	_ = syscall.Kill(-c.pid(), syscall.SIGTERM)
	select {
	case <-c.done:
		return
	case <-time.After(stopGrace):
	}
	_ = syscall.Kill(-c.pid(), syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(stopGrace):
	}
}

// tail returns the end of the child's log, for error messages.
func (c *child) tail() string {
	b, _ := os.ReadFile(c.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// stopAll stops every child still running, in reverse start order.
func stopAll() {
	children.mu.Lock()
	list := append([]*child(nil), children.list...)
	children.mu.Unlock()
	var wg sync.WaitGroup
	for i := len(list) - 1; i >= 0; i-- {
		wg.Go(list[i].stop)
	}
	wg.Wait()
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startListening starts a child on a free loopback port and waits until
// ready(addr) holds, retrying on a port taken in between.
func startListening(name, bin string, mk func(addr string) (args, env []string), ready func(addr string) bool) (*child, string, error) {
	var last error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, "", err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		args, env := mk(addr)
		c, err := startChild(name, bin, args, env)
		if err != nil {
			return nil, "", err
		}
		deadline := time.Now().Add(readyTimeout)
		for !ready(addr) && !c.exited() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if ready(addr) {
			return c, addr, nil
		}
		c.stop()
		last = fmt.Errorf("%s did not become ready on %s within %v; its log ends:\n%s", name, addr, readyTimeout, c.tail())
		if !strings.Contains(c.tail(), "address already in use") {
			break
		}
	}
	return nil, "", last
}

// tcpReady reports whether something accepts connections on addr.
func tcpReady(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// httpReady reports whether GET url answers 200.
func httpReady(url string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports.
const clockTick = 100

// procCPU returns the user+system CPU time the process has used so far
// (/proc/PID/stat fields 14 and 15, all threads).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// procRSS returns the process's resident set size and its peak (VmRSS and
// VmHWM of /proc/PID/status), in bytes.
func procRSS(pid int) (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []struct {
			name string
			dst  *int64
		}{{"VmRSS:", &rss}, {"VmHWM:", &peak}} {
			if v, ok := strings.CutPrefix(line, k.name); ok {
				fs := strings.Fields(v)
				if len(fs) >= 1 {
					n, _ := strconv.ParseInt(fs[0], 10, 64)
					*k.dst = n << 10 // kB
				}
			}
		}
	}
	return rss, peak, sc.Err()
}

// procFDs counts the process's open file descriptors.
func procFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// machineCPU is a reading of /proc/stat's first line: busy and total jiffies
// of all CPUs together.
type machineCPU struct{ busy, total, softirq int64 }

func readMachineCPU() machineCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var m machineCPU
	for i, s := range f[1:] {
		n, _ := strconv.ParseInt(s, 10, 64)
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		m.total += n
		if i != 3 && i != 4 { // idle, iowait
			m.busy += n
		}
		if i == 5 || i == 6 { // irq, softirq
			m.softirq += n
		}
	}
	return m
}

// utilisation is the share of all CPUs busy between a and b (0..1).
func utilisation(a, b machineCPU) float64 {
	if b.total <= a.total {
		return 0
	}
	return float64(b.busy-a.busy) / float64(b.total-a.total)
}
