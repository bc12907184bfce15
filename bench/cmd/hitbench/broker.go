package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The broker's CPU. The Kafka process is found the way scripts/kafka.sh
// records it — its pid file, $KAFKA_DIR/kafka.pid (.local/kafka/kafka.pid;
// BENCH_BROKER_PIDFILE names another, e.g. a dedicated broker's) — and
// accepted only if that process is a kafka.Kafka JVM listening on the
// first broker's port; otherwise the process listening on that port is
// looked up through /proc/net/tcp{,6} (the socket's inode) and
// /proc/<pid>/fd. Its CPU time is utime + stime of /proc/<pid>/stat.
//
// Every measured phase (the plain read, an exporter run, a peer) is
// preceded by an IDLE phase of about the same length in which no client of
// the benchmark runs: the broker's CPU then is its background (other
// clients of a shared broker, its own housekeeping). A phase's broker CPU
// is printed raw, as the idle phase's CPU scaled to the phase's length, and
// net = raw − idle.

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux
// on every common architecture).
const clockTicks = 100

// brokerPort is the port of the first of brokers (0 if none).
func brokerPort(brokers string) int {
	_, ps, err := net.SplitHostPort(strings.Split(brokers, ",")[0])
	if err != nil {
		return 0
	}
	port, _ := strconv.Atoi(ps)
	return port
}

// listenInodes are the "socket:[inode]" links of the sockets listening on
// port.
func listenInodes(port int) map[string]bool {
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
	return inodes
}

// holdsSocket reports whether pid has one of inodes open.
func holdsSocket(pid int, inodes map[string]bool) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	fds, _ := os.ReadDir(dir)
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && inodes[l] {
			return true
		}
	}
	return false
}

// pidFromFile is the pid in pidfile if it is a live kafka.Kafka process
// holding one of inodes, else 0.
func pidFromFile(pidfile string, inodes map[string]bool) int {
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte("kafka.Kafka")) || !holdsSocket(pid, inodes) {
		return 0
	}
	return pid
}

// brokerPID returns the broker's pid and how it was found, or 0 when it
// cannot be found (another host, no access).
func brokerPID(brokers, pidfile string) (int, string) {
	port := brokerPort(brokers)
	if port == 0 {
		return 0, ""
	}
	inodes := listenInodes(port)
	if len(inodes) == 0 {
		return 0, ""
	}
	if pid := pidFromFile(pidfile, inodes); pid > 0 {
		return pid, "pid file " + pidfile
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, pd := range procs {
		pid, _ := strconv.Atoi(filepath.Base(pd))
		if pid > 0 && holdsSocket(pid, inodes) {
			return pid, fmt.Sprintf("listening on port %d", port)
		}
	}
	return 0, ""
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
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime + stime (fields 14 and 15) of a /proc/<pid>/stat
// line, in seconds, or -1.
func parseStatCPU(s string) float64 {
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
	u, err1 := strconv.ParseFloat(fs[11], 64)
	st, err2 := strconv.ParseFloat(fs[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (u + st) / clockTicks
}

// BrokerPhase is the broker's CPU over one measured phase.
type BrokerPhase struct {
	// Sec: the phase's length; IdleSec: the idle phase's just before.
	Sec     float64 `json:"phase_seconds"`
	IdleSec float64 `json:"idle_seconds"`
	// Raw: broker CPU s during the phase; Idle: its CPU s during the idle
	// phase, scaled to the phase's length; Net = Raw − Idle (not clamped:
	// a negative figure says the background moved more than the client
	// used).
	Raw  float64 `json:"raw_cpu_seconds"`
	Idle float64 `json:"idle_cpu_seconds"`
	Net  float64 `json:"net_cpu_seconds"`
}

// brokerMeter measures the broker's CPU over one phase.
type brokerMeter struct {
	e     *Env
	key   string
	pid   int
	start float64
	at    time.Time
	idle  float64 // CPU s in the idle phase
	idleS float64 // its length
}

// idleLength is how long the idle phase before a phase of key lasts: the
// length of the last phase of that key (or of the last plain read) in this
// run; before any, 1 s per 100k hits, between 2 and 30 s.
func (e *Env) idleLength(key string, hits int) time.Duration {
	if d, ok := e.phaseLen[key]; ok {
		return d
	}
	if d, ok := e.phaseLen["limit"]; ok {
		return d
	}
	d := time.Duration(float64(hits) / 1e5 * float64(time.Second))
	return min(max(d, 2*time.Second), 30*time.Second)
}

// startBroker runs the idle phase, then starts measuring the phase key
// (whose length sets the next idle phase of the same key).
func startBroker(e *Env, key string, hits int) brokerMeter {
	if e.brokerPID == 0 {
		pid, how := brokerPID(e.Brokers, e.BrokerPIDFile)
		if pid == 0 {
			e.brokerPID = -1
			logf("broker CPU: no Kafka process found listening on %s; not measured", e.Brokers)
		} else {
			e.brokerPID = pid
			logf("broker CPU: Kafka pid %d (%s)", pid, how)
		}
	}
	m := brokerMeter{e: e, key: key, pid: e.brokerPID, start: -1}
	c0 := procCPU(m.pid)
	if c0 < 0 {
		return m
	}
	t0 := time.Now()
	time.Sleep(e.idleLength(key, hits))
	c1 := procCPU(m.pid)
	t1 := time.Now()
	if c1 < 0 {
		return m
	}
	m.start, m.at, m.idle, m.idleS = c1, t1, c1-c0, t1.Sub(t0).Seconds()
	return m
}

// end closes the phase; ok is false when the broker was not measured.
func (m brokerMeter) end() (BrokerPhase, bool) {
	if m.start < 0 {
		return BrokerPhase{}, false
	}
	now := procCPU(m.pid)
	if now < 0 {
		return BrokerPhase{}, false
	}
	d := time.Since(m.at)
	if m.e.phaseLen == nil {
		m.e.phaseLen = map[string]time.Duration{}
	}
	m.e.phaseLen[m.key] = d
	p := BrokerPhase{Sec: d.Seconds(), IdleSec: m.idleS, Raw: now - m.start}
	p.Idle = m.idle * p.Sec / m.idleS
	p.Net = p.Raw - p.Idle
	return p, true
}

// notMeasured marks a broker CPU figure that could not be taken.
const notMeasured = -1e9

// sentSegments sums data_segs_out (TCP segments carrying data) of pid's
// established connections to port, from `ss -tinp`: a Kafka client writes a
// request in one write, and a request is far smaller than a loopback
// segment, so on connections that wait for each answer (fetches) this counts
// the requests the broker received. -1 when ss cannot tell.
func sentSegments(pid, port int) int64 {
	out, err := exec.Command("ss", "-tinpH", "state", "established", fmt.Sprintf("( dport = :%d )", port)).Output()
	if err != nil {
		return -1
	}
	return parseSentSegments(string(out), pid)
}

// parseSentSegments reads `ss -tinpH` output: a line per connection
// (addresses, users:(("name",pid=N,fd=M))), then its indented TCP info.
func parseSentSegments(out string, pid int) int64 {
	var n int64
	mine := false
	tag := fmt.Sprintf("pid=%d,", pid)
	for _, l := range strings.Split(out, "\n") {
		if l == "" {
			continue
		}
		if l[0] != ' ' && l[0] != '\t' {
			mine = strings.Contains(l, tag)
			continue
		}
		if !mine {
			continue
		}
		for _, f := range strings.Fields(l) {
			if v, ok := strings.CutPrefix(f, "data_segs_out:"); ok {
				c, _ := strconv.ParseInt(v, 10, 64)
				n += c
			}
		}
	}
	return n
}
