package cli

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestFinalDeliveries: the merger's "object uploaded" lines set the
// integration's last delivery (window layout), whatever the log level, and
// every record still reaches the log as the level says.
func TestFinalDeliveries(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f := &finalDeliveries{}
	if _, ok := f.get("a"); ok {
		t.Fatal("a delivery before any merge")
	}
	log := f.logFinals(base.With("integration", "a"), "a").With("component", "merger")
	log.Info("window merged", "key", "not-a-delivery")
	if _, ok := f.get("a"); ok {
		t.Fatal(`a line other than "object uploaded" set the delivery`)
	}
	log.Info("object uploaded", "key", "dt=2026-12-02/hour=10/hitlogs-1796200800.ndjson.gz", "records", 3)
	log.Info("object uploaded", "key", "dt=2026-12-02/hour=10/hitlogs-1796200800_late-001.ndjson.gz", "records", 1)
	d, ok := f.get("a")
	if !ok || d.Key != "dt=2026-12-02/hour=10/hitlogs-1796200800_late-001.ndjson.gz" || d.Time.IsZero() {
		t.Fatalf("delivery of a = %+v, %v", d, ok)
	}
	if _, ok := f.get("b"); ok {
		t.Fatal("b has a delivery")
	}
	if buf.Len() != 0 {
		t.Fatalf("info lines reached a warn-level log: %s", buf.String())
	}
	log.Warn("merging a window failed; will retry", "error", "boom")
	if out := buf.String(); !strings.Contains(out, "boom") || !strings.Contains(out, "integration=a") || !strings.Contains(out, "component=merger") {
		t.Fatalf("warn line not passed on with its attributes: %q", out)
	}
	var nilF *finalDeliveries
	if _, ok := nilF.get("a"); ok {
		t.Fatal("nil finalDeliveries has a delivery")
	}
}
