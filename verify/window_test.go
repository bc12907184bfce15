package verify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/store"
	"github.com/hitexport/hitexport/verify"
)

// TestReadBucketWindowLayout: final objects of the window layout are read
// with the window of their name; staged parts and manifests left over are a
// violation; progress markers and done records are not data.
func TestReadBucketWindowLayout(t *testing.T) {
	b := store.NewMemory("v")
	ctx := context.Background()
	put := func(key, body string) {
		if err := b.Put(ctx, key, strings.NewReader(body), int64(len(body)), store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	h := func(id string, ms int64) string {
		return `{"time":"` + itoa(ms/1000) + `","request_id":"` + id + `"}`
	}
	put("p/hitlogs-1687241400.ndjson", h("a", w0+1000)+"\n"+h("b", w0+2000)+"\n")
	put("p/hitlogs-1687241400_002.ndjson", h("c", w0+3000)+"\n")
	put("p/hitlogs-1687241400_late-001.json", "[\n"+h("d", w0+4000)+"\n]\n")
	put("p/_hitexport/progress/t-0", `{"closed_before":1}`)
	put("p/_hitexport/merged/1687241400.json", `{}`)
	c, err := verify.ReadBucket(ctx, b, "p/")
	if err != nil {
		t.Fatal(err)
	}
	man := []gen.Expect{hit("a", w0+1000), hit("b", w0+2000), hit("c", w0+3000), hit("d", w0+4000)}
	rep := verify.Compare(c, man, W)
	if !rep.OK() || rep.HitsInBucket != 4 || c.Objects != 3 {
		t.Fatalf("report %+v objects %d", rep, c.Objects)
	}
	put("p/_hitexport/staging/1687241400/t-0-9.ndjson", h("e", w0+5000)+"\n")
	put("p/_hitexport/merging/1687241400_late-002.json", `{}`)
	if c, err = verify.ReadBucket(ctx, b, "p/"); err != nil {
		t.Fatal(err)
	}
	rep = verify.Compare(c, man, W)
	if rep.OK() || rep.Pending != 2 || rep.HitsInBucket != 4 {
		t.Fatalf("pending parts not reported: %+v", rep)
	}
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
