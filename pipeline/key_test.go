package pipeline_test

import (
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/pipeline"
)

func TestKeyRoundTrip(t *testing.T) {
	const ws = 1687241400000
	for _, c := range []struct {
		k    pipeline.ObjectKey
		want string
	}{
		{pipeline.ObjectKey{Kind: pipeline.KindHits, Window: ws, Topic: "hits", Partition: 3, First: 184467, Ext: ".ndjson", Compression: encoders.Zstd},
			"hitlogs-1687241400-hits-3-184467.ndjson.zst"},
		{pipeline.ObjectKey{Kind: pipeline.KindHits, Window: ws, Topic: "hits", Partition: 0, First: 0, Ext: ".ocsf.json", Compression: encoders.None},
			"hitlogs-1687241400-hits-0-0.ocsf.json"},
		{pipeline.ObjectKey{Kind: pipeline.KindRejected, Window: ws, Topic: "hits", Partition: 2, First: 7, Ext: ".rejected.ndjson", Compression: encoders.Gzip},
			"rejected/hitlogs-1687241400-hits-2-7.rejected.ndjson.gz"},
		{pipeline.ObjectKey{Kind: pipeline.KindHits, Window: ws, Topic: "hits-2", Partition: 0, First: 5, Ext: ".ndjson", Compression: encoders.None},
			"hitlogs-1687241400-hits-2-0-5.ndjson"},
		{pipeline.ObjectKey{Kind: pipeline.KindHits, Window: ws, Topic: "waf.hits_v1", Partition: 11, First: 9, Ext: ".json", Compression: encoders.Gzip},
			"hitlogs-1687241400-waf.hits_v1-11-9.json.gz"},
		{pipeline.ObjectKey{Kind: pipeline.KindRejected, Window: 0, Topic: "t", Partition: 0, First: 1, Ext: ".rejected.ndjson", Compression: encoders.None},
			"rejected/hitlogs-0-t-0-1.rejected.ndjson"},
	} {
		got := pipeline.Key(c.k)
		if got != c.want {
			t.Errorf("Key(%+v) = %q, want %q", c.k, got, c.want)
		}
		back, ok := pipeline.ParseKey(got)
		if !ok || back != c.k {
			t.Errorf("ParseKey(%q) = %+v, %v; want %+v", got, back, ok, c.k)
		}
		if pipeline.CompressionOf(got) != c.k.Compression {
			t.Errorf("CompressionOf(%q) = %q", got, pipeline.CompressionOf(got))
		}
	}
	for _, bad := range []string{
		"hitexport-check/hitlogs-1-check.ndjson", "hitlogs-x-hits-1-5.ndjson", "waf/hitlogs-1687241400-hits-1-5.ndjson",
		"hitlogs-1687241400-hits-1-5", "hitlogs-1687241400-5.ndjson", "other-1687241400-hits-1-5.ndjson", "hitlogs-1687241400-hits-1-.ndjson",
		"hitlogs-1687241400-hits-x-5.ndjson", "rejected/rejected/hitlogs-1-t-0-1.rejected.ndjson",
	} {
		if k, ok := pipeline.ParseKey(bad); ok {
			t.Errorf("ParseKey(%q) accepted: %+v", bad, k)
		}
	}
}

func TestCheckKey(t *testing.T) {
	k := pipeline.CheckKey(time.Unix(1700000000, 0), ".ndjson.gz")
	if k != "hitexport-check/hitlogs-1700000000-check.ndjson.gz" || !pipeline.IsCheckKey(k) || pipeline.IsCheckKey("hitlogs-1-t-0-1.ndjson") {
		t.Errorf("check key %q", k)
	}
	if _, ok := pipeline.ParseKey(k); ok {
		t.Errorf("check key parses as an export")
	}
	if pipeline.CompressionOf(k) != encoders.Gzip {
		t.Errorf("compression of check key")
	}
}
