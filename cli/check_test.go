package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
)

type missingBucket struct{ *store.Memory }

func (missingBucket) Exists(context.Context) (bool, error) { return false, nil }

func TestCheckDestination(t *testing.T) {
	for _, c := range []struct {
		format string
		comp   encoders.Compression
	}{{"ndjson", encoders.None}, {"json", encoders.Gzip}, {"ocsf", encoders.Zstd}, {"ocsf-json", encoders.None}} {
		enc, err := encoders.New(c.format)
		if err != nil {
			t.Fatal(err)
		}
		mem := store.NewMemory("dest")
		res := CheckDestination(context.Background(), Destination{Bucket: mem, Endpoint: "s3.example:9000", KeyPrefix: "waf/",
			Layout: pipeline.Layout{Encoder: enc, Compression: c.comp, Window: time.Minute}, Topic: "hits"})
		if len(res) != 2 || res[0].Name != "s3" || !res[0].OK || res[1].Name != "s3-write" || !res[1].OK {
			t.Fatalf("%s/%s: %+v", c.format, c.comp, res)
		}
		if res[0].Msg != `bucket "dest" exists at s3.example:9000` {
			t.Errorf("s3 message %q", res[0].Msg)
		}
		want := "test object written, read back and decoded: waf/hitexport-check/hitlogs-"
		if !strings.HasPrefix(res[1].Msg, want) || !strings.HasSuffix(res[1].Msg, enc.Extension()+c.comp.Extension()+" (deleted)") {
			t.Errorf("s3-write message %q", res[1].Msg)
		}
		if keys := mem.Keys(); len(keys) != 0 {
			t.Errorf("test object left: %v", keys)
		}
	}
	enc, _ := encoders.New("ndjson")
	res := CheckDestination(context.Background(), Destination{Bucket: missingBucket{store.NewMemory("gone")},
		Layout: pipeline.Layout{Encoder: enc, Compression: encoders.None, Window: time.Minute}})
	if len(res) != 1 || res[0].OK || res[0].Name != "s3" || !strings.Contains(res[0].Msg, `bucket "gone" does not exist`) {
		t.Errorf("missing bucket: %+v", res)
	}
}
