package cli

import (
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2026-11-28T16:00:00Z":      time.Date(2026, 11, 28, 16, 0, 0, 0, time.UTC),
		"2026-11-28T17:00:00+01:00": time.Date(2026, 11, 28, 16, 0, 0, 0, time.UTC),
		"2026-11-28T16:00:00.5Z":    time.Date(2026, 11, 28, 16, 0, 0, 5e8, time.UTC),
		"1795881600":                time.Unix(1795881600, 0),
		" 1795881600.25 ":           time.Unix(1795881600, 25e7),
		"0":                         time.Unix(0, 0),
	} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "2026-11-28", "-5", "1e20", "NaN", "16:00"} {
		if _, err := ParseTime(in); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
			t.Errorf("ParseTime(%q): %v", in, err)
		}
	}
}

func TestProgressLine(t *testing.T) {
	got := progressLine(2500, 10000, 2400, 3<<20, 5*time.Second)
	for _, want := range []string{" 25.0% (2500/10000 offsets)", "2400 records", "3.0 MiB", "480 records/s", "ETA 15s"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress line %q lacks %q", got, want)
		}
	}
	if got := progressLine(10, 10, 10, 10, time.Second); !strings.Contains(got, "100.0%") || !strings.Contains(got, "ETA 0s") {
		t.Errorf("done: %q", got)
	}
	if got := progressLine(0, 0, 0, 0, 0); !strings.Contains(got, "100.0%") {
		t.Errorf("empty range: %q", got)
	}
}
