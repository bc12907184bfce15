package pipeline

import (
	"testing"

	"github.com/hitexport/hitexport/encoders"
)

// Final keys of the window layout carry the key template's folders, and
// ParseWindowKey reads them back; the exporter's own keys are not final.
func TestFinalKeyWithTemplateFolders(t *testing.T) {
	tmpl, err := ParseKeyTemplate("dt={yyyy}-{mm}-{dd}/hour={hh}/hitlogs-{timestamp}{ext}")
	if err != nil {
		t.Fatal(err)
	}
	w := int64(1796176800000) // 2026-12-02T02:00:00Z
	k := WindowKey{Dir: tmpl.Dir(w, "acme"), Window: w, Late: 1, Split: 1, Ext: ".ndjson", Compression: encoders.Gzip}
	key := FinalKey(k)
	if want := "dt=2026-12-02/hour=02/hitlogs-1796176800_late-001.ndjson.gz"; key != want {
		t.Fatalf("FinalKey = %q, want %q", key, want)
	}
	got, ok := ParseWindowKey(key)
	if !ok || got != k {
		t.Fatalf("ParseWindowKey(%q) = %+v, %v; want %+v", key, got, ok, k)
	}
	if _, ok := ParseWindowKey("_hitexport/staging/1796176800/hits-0-5.ndjson.gz"); ok {
		t.Fatal("a staged part parsed as a final key")
	}
}
