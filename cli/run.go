package cli

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
)

// Handler serves /metrics, /healthz (the process is alive) and /readyz
// (group joined, uploads not failing past the first retry cycle, not
// degraded), the last two with a JSON body saying why.
func Handler(reg *prometheus.Registry, m *pipeline.Metrics, h *pipeline.Health) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		st := h.Status()
		if st.Degraded {
			m.Degraded.Set(1)
		} else {
			m.Degraded.Set(0)
		}
		w.Header().Set("Content-Type", "application/json")
		if !st.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(st)
	})
	return mux
}

// Run is "hitexport run": it exports until SIGTERM or SIGINT (a second
// signal exits at once) and serves /metrics, /healthz and /readyz. It
// returns the process's exit code.
func Run(cfg *config.Config) int {
	log := NewLogger(cfg)
	parts, err := Build(cfg, log)
	if err != nil {
		log.Error("startup failed", "error", err.Error())
		return 1
	}
	parts.Group.Classify = store.ErrorClass
	ctx, cancelRegistry := context.WithCancel(context.Background())
	defer cancelRegistry()
	reg, err := OpenRegistry(ctx, cfg, log)
	if err != nil {
		log.Error("startup failed: the integrations registry (HITEXPORT_REGISTRY)", "registry", cfg.RegistryKind(), "error", err.Error())
		return 1
	}
	defer reg.Close()
	stop := make(chan struct{})
	rt := newRuntime(cfg, log, reg, parts, stop)
	if !rt.envMode() {
		parts.Group.OnAutoDisable = rt.autoDisable
		parts.Group.AutoDisableAfter = min(cfg.AutoDisableAfter, cfg.FailureWindow)
	}
	snapshots := reg.Watch(ctx)
	rt.apply(<-snapshots)
	go func() {
		for list := range snapshots {
			rt.apply(list)
		}
	}()
	var admin *http.Server
	if cfg.AdminAddr != "" {
		if admin, err = startAdmin(cfg, log, reg, parts.Group, rt); err != nil {
			log.Error("startup failed: the admin API", "error", err.Error())
			return 1
		}
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		log.Error("cannot listen (HITEXPORT_HTTP_ADDR)", "addr", cfg.HTTPAddr, "error", err.Error())
		return 1
	}
	srv := &http.Server{Handler: Handler(parts.Registry, parts.Metrics, parts.Health), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	ml := newMemLimiter(cfg)
	parts.Group.OnWorkers = ml.workers // the derived limit grows with integrations × partitions
	log.Info("hitexport starting", "config", cfg.Redacted(), "http_addr", ln.Addr().String(), "gomemlimit", ml.current(), "gomemlimit_derived", ml.derived)

	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sig
		log.Info("signal received: stopping", "signal", s.String(), "shutdown_timeout", cfg.ShutdownTimeout.String())
		close(stop)
		<-sig
		log.Warn("second signal: exiting now")
		os.Exit(1)
	}()
	start := time.Now()
	// The window layout's merger: on stop it finishes the merge in progress
	// within the same SHUTDOWN_TIMEOUT as the uploads (a merge cut short is
	// completed by the next sweep of any replica).
	mctx, mcancel := context.WithCancel(context.Background())
	defer mcancel()
	mdone := make(chan struct{})
	go func() {
		defer close(mdone)
		if parts.Merger != nil {
			parts.Merger.Run(mctx, stop)
		}
	}()
	go func() {
		<-stop
		t := time.NewTimer(cfg.ShutdownTimeout)
		defer t.Stop()
		select {
		case <-mdone:
		case <-t.C:
			log.Warn("shutdown timeout: cancelling in-flight uploads of the merge in progress; the next sweep completes it",
				"timeout", cfg.ShutdownTimeout.String())
			mcancel()
		}
	}()
	err = parts.Group.Run(stop)
	<-mdone
	rt.waitMergers(cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if admin != nil {
		_ = admin.Shutdown(sctx)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("stopped with error", "error", err.Error())
		return 1
	}
	log.Info("hitexport stopped", "uptime", time.Since(start).String())
	return 0
}
