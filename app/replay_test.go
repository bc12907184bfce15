package app

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

func TestParseObjectKey(t *testing.T) {
	type res struct {
		rejected bool
		ws       int64
		part     int
		first    int64
		ok       bool
	}
	for _, c := range []struct {
		key, prefix, topic string
		want               res
	}{
		{"hitlogs-1687241400-hits-3-184467.ndjson.zst", "", "hits", res{false, 1687241400, 3, 184467, true}},
		{"waf/hitlogs-1687241400-hits-0-0.ocsf.json", "waf/", "hits", res{false, 1687241400, 0, 0, true}},
		{"rejected/hitlogs-1687241400-hits-2-7.rejected.ndjson.gz", "", "hits", res{true, 1687241400, 2, 7, true}},
		// Another topic whose name starts with ours is not ours.
		{"hitlogs-1687241400-hits-2-0-5.ndjson", "", "hits", res{}},
		{"hitlogs-1687241400-hits-2-0-5.ndjson", "", "hits-2", res{false, 1687241400, 0, 5, true}},
		{"hitlogs-1687241400-other-1-5.ndjson", "", "hits", res{}},
		{"hitexport-check/hitlogs-1-check.ndjson", "", "hits", res{}},
		{"hitlogs-x-hits-1-5.ndjson", "", "hits", res{}},
		{"hitlogs-1687241400-hits-1-5.ndjson", "waf/", "hits", res{}},
	} {
		var got res
		got.rejected, got.ws, got.part, got.first, got.ok = ParseObjectKey(c.key, c.prefix, c.topic)
		if !c.want.ok {
			if got.ok {
				t.Errorf("%q (topic %q): parsed as %+v", c.key, c.topic, got)
			}
			continue
		}
		if got != c.want {
			t.Errorf("%q: got %+v, want %+v", c.key, got, c.want)
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
