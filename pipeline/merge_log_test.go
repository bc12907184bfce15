package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/hitexport/hitexport/encoders"
)

// captureHandler keeps the message and "key" attribute of every record.
type captureHandler struct {
	mu   *sync.Mutex
	recs *[][2]string
}

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	key := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "key" {
			key = a.Value.String()
		}
		return true
	})
	h.mu.Lock()
	*h.recs = append(*h.recs, [2]string{r.Message, key})
	h.mu.Unlock()
	return nil
}
func (h captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h captureHandler) WithGroup(string) slog.Handler      { return h }

// TestMergeLogsFinalObject: the merger logs each final object it writes as
// "object uploaded" with its key. cli (finalDeliveries) relies on this line to
// show an integration's last delivery in the window layout: the object the
// customer sees, not the staged part.
func TestMergeLogsFinalObject(t *testing.T) {
	f := newMergeFixture(t, "ndjson", encoders.Gzip)
	w1, w2 := mW0, mW0+mW.Milliseconds()
	f.stage(false, w1, 0, 0, 3)
	f.stage(false, w1, 1, 0, 2)
	m := f.merger(2)
	var recs [][2]string
	m.Log = slog.New(captureHandler{mu: &sync.Mutex{}, recs: &recs})
	f.progress(0, w2)
	f.progress(1, w2)
	sweep(t, m)
	final := FinalKey(WindowKey{Window: w1, Split: 1, Ext: f.l.Encoder.Extension(), Compression: encoders.Gzip})
	var uploaded []string
	for _, r := range recs {
		if r[0] == "object uploaded" {
			uploaded = append(uploaded, r[1])
		}
	}
	if len(uploaded) != 1 || uploaded[0] != final {
		t.Fatalf(`"object uploaded" keys %q, want [%s] (records %q)`, uploaded, final, recs)
	}
}
