package app

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hitexport/hitexport/pipeline"
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
