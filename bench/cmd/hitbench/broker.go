package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The broker's CPU: the Kafka process (the JVM listening on the first
// broker's port) is found through /proc/net/tcp{,6} (the listening socket's
// inode) and /proc/<pid>/fd; its CPU time is utime + stime of
// /proc/<pid>/stat. Read before and after each measurement, the difference
// is what the broker spent serving it (and whatever else used the broker
// meanwhile: on a shared machine other clients add to it).

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux
// on every common architecture).
const clockTicks = 100

// brokerPID returns the pid of the process listening on the port of the
// first of brokers, or 0 when it cannot be found (another host, no access).
func brokerPID(brokers string) int {
	first := strings.Split(brokers, ",")[0]
	_, ps, err := net.SplitHostPort(first)
	if err != nil {
		return 0
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		return 0
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(l)
			if len(fs) < 10 || fs[3] != "0A" { // LISTEN
				continue
			}
			i := strings.LastIndexByte(fs[1], ':')
			if p, err := strconv.ParseInt(fs[1][i+1:], 16, 32); err == nil && int(p) == port {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, pd := range procs {
		fds, _ := os.ReadDir(filepath.Join(pd, "fd"))
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(pd, "fd", fd.Name())); err == nil && inodes[l] {
				pid, _ := strconv.Atoi(filepath.Base(pd))
				return pid
			}
		}
	}
	return 0
}

// procCPU is the CPU seconds (user + system) pid has used, or -1.
func procCPU(pid int) float64 {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	fs := strings.Fields(s[i+1:])
	// fs[0] is field 3 (state): utime and stime are fields 14 and 15.
	if len(fs) < 13 {
		return -1
	}
	u, _ := strconv.ParseFloat(fs[11], 64)
	st, _ := strconv.ParseFloat(fs[12], 64)
	return (u + st) / clockTicks
}

// brokerMeter measures the broker's CPU over one measurement. The broker is
// shared (other clients, the benchmark's own polling of the group's
// offsets): its background rate is sampled for a second just before the
// measurement starts and subtracted over the measurement's duration.
type brokerMeter struct {
	pid        int
	start      float64
	at         time.Time
	background float64 // CPU s per s before the measurement
}

func startBroker(e *Env) brokerMeter {
	if e.brokerPID == 0 {
		e.brokerPID = brokerPID(e.Brokers)
		if e.brokerPID == 0 {
			e.brokerPID = -1
			logf("broker CPU: no process found listening on %s; not measured", e.Brokers)
		}
	}
	c0 := procCPU(e.brokerPID)
	if c0 < 0 {
		return brokerMeter{pid: e.brokerPID, start: -1}
	}
	t0 := time.Now()
	time.Sleep(time.Second)
	c1 := procCPU(e.brokerPID)
	t1 := time.Now()
	return brokerMeter{pid: e.brokerPID, start: c1, at: t1, background: (c1 - c0) / t1.Sub(t0).Seconds()}
}

// per1M is the broker's CPU seconds since start, less its background rate
// over the same time, per million hits; -1e9 when not measured.
func (m brokerMeter) per1M(hits int) float64 {
	if m.start < 0 {
		return notMeasured
	}
	now := procCPU(m.pid)
	if now < 0 {
		return notMeasured
	}
	// Not clamped at zero: a negative figure says the background moved
	// more than the measurement used.
	used := now - m.start - m.background*time.Since(m.at).Seconds()
	return used / float64(hits) * 1e6
}

// notMeasured marks a broker CPU figure that could not be taken.
const notMeasured = -1e9
