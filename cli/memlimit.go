package cli

import (
	"os"
	"runtime/debug"

	"github.com/hitexport/hitexport/config"
)

// Memory the exporter needs besides its open objects: the fetch queues,
// the read buffers of the connections, the runtime, code and metrics.
const memBase = 64 << 20

// memPerObject is an open object's state besides its in-memory spool: the
// compressor's history and tables (zstd: about 0.4 MiB; gzip about as much)
// and the encoder's buffers, rounded up.
const memPerObject = 1 << 20

// MemoryLimit is the soft memory limit derived from the configuration:
// every open object holding its whole in-memory spool, plus the base —
//
//	MAX_OPEN_OBJECTS × (SPOOL_MEMORY + 1 MiB) + 64 MiB
//
// (224 MiB with the defaults). Go's collector then works harder as the
// heap approaches the bound the configuration sets, instead of letting it
// grow to twice the live data (GOGC=100) when many objects are open.
func MemoryLimit(cfg *config.Config) int64 {
	return int64(cfg.MaxOpenObjects)*(int64(cfg.SpoolMemory)+memPerObject) + memBase
}

// setMemoryLimit applies MemoryLimit unless the user set GOMEMLIMIT (the
// runtime has then applied theirs). It returns the limit in force and
// whether it was derived here.
func setMemoryLimit(cfg *config.Config) (int64, bool) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1), false
	}
	l := MemoryLimit(cfg)
	debug.SetMemoryLimit(l)
	return l, true
}
