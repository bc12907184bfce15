package pipeline_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/pipeline"
)

// Rendering: the folders of the window start in UTC, the file name with the
// partition layout's suffix before the extension; every rendered key parses
// back to what made it.
func TestKeyTemplateRender(t *testing.T) {
	// 2023-06-20 06:10:00 UTC (08:10 in Paris: the folders are UTC).
	ws := time.Date(2023, 6, 20, 6, 10, 0, 0, time.UTC).UnixMilli()
	for _, c := range []struct {
		tmpl, integration string
		kind              pipeline.Kind
		comp              encoders.Compression
		want              string
	}{
		{"", "", pipeline.KindHits, encoders.Gzip, "hitlogs-1687241400-hits-3-42.ndjson.gz"},
		{pipeline.DefaultKeyTemplate, "acme", pipeline.KindHits, encoders.None, "hitlogs-1687241400-hits-3-42.ndjson"},
		{pipeline.DefaultKeyTemplate, "acme", pipeline.KindRejected, encoders.Zstd, "rejected/hitlogs-1687241400-hits-3-42.rejected.ndjson.zst"},
		{"dt={yyyy}-{mm}-{dd}/hour={hh}/hitlogs-{timestamp}{ext}", "", pipeline.KindHits, encoders.Gzip,
			"dt=2023-06-20/hour=06/hitlogs-1687241400-hits-3-42.ndjson.gz"},
		{"dt={yyyy}-{mm}-{dd}/hour={hh}/hitlogs-{timestamp}{ext}", "", pipeline.KindRejected, encoders.Gzip,
			"rejected/dt=2023-06-20/hour=06/hitlogs-1687241400-hits-3-42.rejected.ndjson.gz"},
		{"{yyyy}/{mm}/{dd}/{hh}/hitlogs-{timestamp}{ext}", "", pipeline.KindHits, encoders.None, "2023/06/20/06/hitlogs-1687241400-hits-3-42.ndjson"},
		{"waf/{integration}/{yyyy}{mm}{dd}/hitlogs-{timestamp}{ext}", "acme-prod", pipeline.KindHits, encoders.Zstd,
			"waf/acme-prod/20230620/hitlogs-1687241400-hits-3-42.ndjson.zst"},
		{"{integration}/hitlogs-{timestamp}{ext}", "", pipeline.KindHits, encoders.None, "default/hitlogs-1687241400-hits-3-42.ndjson"},
		{"{integration}/hitlogs-{timestamp}{ext}", "_a b/c", pipeline.KindHits, encoders.None, "-a-b-c/hitlogs-1687241400-hits-3-42.ndjson"},
		{"w={timestamp}/hitlogs-{timestamp}{ext}", "", pipeline.KindHits, encoders.None, "w=1687241400/hitlogs-1687241400-hits-3-42.ndjson"},
	} {
		kt, err := pipeline.ParseKeyTemplate(c.tmpl)
		if err != nil {
			t.Fatalf("ParseKeyTemplate(%q): %v", c.tmpl, err)
		}
		enc, _ := encoders.New("ndjson")
		l := pipeline.Layout{Encoder: enc, Compression: c.comp, Window: 10 * time.Minute, Keys: kt, Integration: c.integration}
		got := l.Key(c.kind, ws, "hits", 3, 42)
		if got != c.want {
			t.Errorf("%q (%s): key %q, want %q", c.tmpl, c.kind, got, c.want)
			continue
		}
		k, ok := pipeline.ParseKey(got)
		want := c.kind
		if !ok || k.Kind != want || k.Window != ws || k.Topic != "hits" || k.Partition != 3 || k.First != 42 || k.Compression != c.comp ||
			pipeline.Key(k) != got {
			t.Errorf("ParseKey(%q) = %+v, %v", got, k, ok)
		}
		if !strings.HasPrefix(strings.TrimPrefix(got, "rejected/"), kt.ListPrefix()) {
			t.Errorf("%q: list prefix %q does not cover %q", c.tmpl, kt.ListPrefix(), got)
		}
	}
}

// Validation: every mistake is refused with a message naming it.
func TestKeyTemplateValidation(t *testing.T) {
	for _, c := range []struct {
		tmpl, placeholder, msg string
	}{
		{"dt={yyyy}-{m}-{dd}/hitlogs-{timestamp}{ext}", "{m}", "unknown placeholder {m}"},
		{"{year}/hitlogs-{timestamp}{ext}", "{year}", "unknown placeholder {year}: accepted {yyyy} {mm} {dd} {hh} {integration} {timestamp} {ext}"},
		{"hitlogs-{timestamp}{ext", "", "unclosed {"},
		{"a}/hitlogs-{timestamp}{ext}", "", "} without {"},
		{"dt={yyyy}/hitlogs-{timestamp}.ndjson", "", "must be exactly hitlogs-{timestamp}{ext}"},
		{"dt={yyyy}/hitlogs-{timestamp}-{hh}{ext}", "", "must be exactly hitlogs-{timestamp}{ext}"},
		{"dt={yyyy}/logs-{timestamp}{ext}", "", "must be exactly"},
		{"dt={yyyy}/", "", "must be exactly"},
		{"{ext}/hitlogs-{timestamp}{ext}", "{ext}", "{ext} belongs to the file name only"},
		{"dt={yyyy} {mm}/hitlogs-{timestamp}{ext}", "", "character ' ' at 10 is not allowed"},
		{"dt=ä/hitlogs-{timestamp}{ext}", "", "is not allowed in keys"},
		{"a?b/hitlogs-{timestamp}{ext}", "", "'?'"},
		{"/dt={yyyy}/hitlogs-{timestamp}{ext}", "", "no leading /"},
		{"a//hitlogs-{timestamp}{ext}", "", "no //"},
		{"_staging/hitlogs-{timestamp}{ext}", "", "starting with . or _"},
		{"a/../hitlogs-{timestamp}{ext}", "", "starting with . or _"},
		{"rejected/hitlogs-{timestamp}{ext}", "", "rejected/ is the exporter's own"},
		{"hitexport-check/{yyyy}/hitlogs-{timestamp}{ext}", "", "hitexport-check/ is the exporter's own"},
		{strings.Repeat("a", 500) + "/hitlogs-{timestamp}{ext}", "", "too long"},
	} {
		_, err := pipeline.ParseKeyTemplate(c.tmpl)
		var te *pipeline.KeyTemplateError
		if !errors.As(err, &te) {
			t.Errorf("%q: %v, want a KeyTemplateError", c.tmpl, err)
			continue
		}
		if te.Placeholder != c.placeholder || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: %q (placeholder %q), want %q (placeholder %q)", c.tmpl, err, te.Placeholder, c.msg, c.placeholder)
		}
	}
	for _, ok := range []string{"", pipeline.DefaultKeyTemplate, "dt={yyyy}-{mm}-{dd}/hour={hh}/hitlogs-{timestamp}{ext}",
		"exports/{integration}/{yyyy}/{mm}/{dd}/{hh}/hitlogs-{timestamp}{ext}", "a!b*c'(d)/hitlogs-{timestamp}{ext}"} {
		kt, err := pipeline.ParseKeyTemplate(ok)
		if err != nil {
			t.Errorf("%q refused: %v", ok, err)
		} else if ok != "" && kt.String() != ok {
			t.Errorf("String() = %q, want %q", kt.String(), ok)
		}
	}
	var zero pipeline.KeyTemplate
	if zero.String() != pipeline.DefaultKeyTemplate || zero.Dir(0, "x") != "" || zero.ListPrefix() != "hitlogs-" {
		t.Errorf("zero template: %q %q %q", zero.String(), zero.Dir(0, "x"), zero.ListPrefix())
	}
}
