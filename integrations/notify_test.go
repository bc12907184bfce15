package integrations

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestNotifier(t *testing.T) {
	var calls atomic.Int32
	var got Event
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(503)
			return
		}
		if r.Header.Get("Content-Type") != "application/json" || r.Method != "POST" {
			t.Errorf("request %s %s", r.Method, r.Header.Get("Content-Type"))
		}
		json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(204)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	n := &Notifier{Backoff: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ev := Event{ID: "itg-a", Name: "acme", State: StateAutoDisabled, PreviousState: StateFailing, Reason: "60% failed", Time: now}
	if err := n.Notify(context.Background(), srv.URL+"/hook?token=sekrit", ev); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 || got != ev {
		t.Fatalf("calls %d, got %+v", calls.Load(), got)
	}
	// failing for good: the error, and no URL path/query in the log
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer bad.Close()
	if err := n.Notify(context.Background(), bad.URL+"/hook?token=sekrit", ev); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("failing hook: %v", err)
	}
	if strings.Contains(logs.String(), "sekrit") {
		t.Fatalf("the URL's query in the log: %s", logs.String())
	}
	if !strings.Contains(logs.String(), "not notified") {
		t.Fatal("a failed notification must be logged")
	}
}
