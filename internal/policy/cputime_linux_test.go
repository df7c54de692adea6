package policy

import "golang.org/x/sys/unix"

// threadCPU returns the CPU time consumed by the calling OS thread. On a
// shared machine it measures the work of a benchmark loop without the time
// spent waiting for a core.
func threadCPU() (int64, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return ts.Nano(), true
}
