package cli

import (
	"os"
	"runtime/debug"
	"sync"

	"github.com/hitexport/hitexport/config"
)

// Memory the exporter needs besides its open objects: the fetch queues,
// the read buffers of the connections, the runtime, code and metrics.
const memBase = 64 << 20

// memPerObject is an open object's state besides its in-memory spool: the
// compressor's history and tables (zstd: about 0.4 MiB; gzip about as much)
// and the encoder's buffers, rounded up.
const memPerObject = 1 << 20

// openPerWorker is how many objects a target-partition worker holds open
// in the steady state: the current window's and the one closing (late
// records and more windows open are bounded by MAX_OPEN_OBJECTS each, and
// spill past SPOOL_MEMORY).
const openPerWorker = 2

// MemoryLimit is the soft memory limit derived from the configuration and
// the number of target-partition workers (integrations × assigned
// partitions): every open object holding its whole in-memory spool, plus
// the base —
//
//	max(MAX_OPEN_OBJECTS, 2 × workers) × (SPOOL_MEMORY + 1 MiB) + 64 MiB
//
// (224 MiB with the defaults and up to 16 workers). Go's collector then
// works harder as the heap approaches the bound the configuration sets,
// instead of letting it grow to twice the live data (GOGC=100) when many
// objects are open. It grows with the workers because each holds its own
// objects: with 100 integrations on 4 partitions a bound of 224 MiB, under
// 500–650 MiB of live objects, had the collector run without pause (GC 28 %
// of the CPU, twice the CPU per hit; README, Integrations).
func MemoryLimit(cfg *config.Config, workers int) int64 {
	objects := max(int64(cfg.MaxOpenObjects), openPerWorker*int64(workers))
	return objects*(int64(cfg.SpoolMemory)+memPerObject) + memBase
}

// memLimiter applies MemoryLimit as the number of workers changes, unless
// the user set GOMEMLIMIT (the runtime has then applied theirs).
type memLimiter struct {
	cfg     *config.Config
	derived bool
	set     func(int64) int64 // debug.SetMemoryLimit

	mu    sync.Mutex
	limit int64
}

func newMemLimiter(cfg *config.Config) *memLimiter {
	m := &memLimiter{cfg: cfg, derived: os.Getenv("GOMEMLIMIT") == "", set: debug.SetMemoryLimit}
	if m.derived {
		m.workers(0)
	} else {
		m.limit = m.set(-1)
	}
	return m
}

// workers sets the limit for n target-partition workers (Group.OnWorkers).
func (m *memLimiter) workers(n int) {
	if !m.derived {
		return
	}
	l := MemoryLimit(m.cfg, n)
	m.mu.Lock()
	defer m.mu.Unlock()
	if l != m.limit {
		m.limit = l
		m.set(l)
	}
}

// current is the limit in force.
func (m *memLimiter) current() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.limit
}
