// Package benchcpu reports a benchmark's CPU time per operation next to its
// wall time. On a machine shared with other work the wall time of a
// benchmark moves with the load; the CPU time of the benchmark's own thread
// moves far less, so before/after comparisons use it.
package benchcpu

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// rusageThread is Linux's RUSAGE_THREAD.
const rusageThread = 1

// threadCPU is the CPU time (user + system) of the calling OS thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Start locks the benchmark goroutine to its thread and returns a function
// to call when the timed loop is done: it reports "cpu-ns/op", the thread's
// CPU time per iteration. Work done on other goroutines is not counted.
func Start(b *testing.B) func() {
	runtime.LockOSThread()
	t0 := threadCPU()
	return func() {
		d := threadCPU() - t0
		runtime.UnlockOSThread()
		if b.N > 0 && d > 0 {
			b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

// StartProcess is Start for work spread over goroutines: it reports
// "proc-cpu-ns/op", the whole process's CPU time (every thread, the GC
// included) per iteration. Anything else running in the test binary counts.
func StartProcess(b *testing.B) func() {
	t0 := processCPU()
	return func() {
		if d := processCPU() - t0; b.N > 0 && d > 0 {
			b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "proc-cpu-ns/op")
		}
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
