package store

import (
	"bytes"
	"context"
	"io"
	"reflect"
	"testing"
)

func TestWithPrefix(t *testing.T) {
	ctx := context.Background()
	mem := NewMemory("b")
	if WithPrefix(mem, "") != Bucket(mem) {
		t.Fatalf("an empty prefix must return the bucket itself")
	}
	b := WithPrefix(mem, "exp/")
	put := func(bk Bucket, key, body string) {
		t.Helper()
		if err := bk.Put(ctx, key, bytes.NewReader([]byte(body)), int64(len(body)), PutOptions{Metadata: map[string]string{"k": "v"}}); err != nil {
			t.Fatal(err)
		}
	}
	put(b, "hitlogs-1-t-0-1.ndjson", "a")
	put(b, "rejected/hitlogs-1-t-0-2.rejected.ndjson", "bb")
	put(mem, "other/hitlogs-1-t-0-3.ndjson", "ccc") // outside the prefix
	put(mem, "exphitlogs-1-t-0-4.ndjson", "dddd")   // shares the prefix's letters, not its directory

	if got := mem.Keys(); !reflect.DeepEqual(got, []string{"exp/hitlogs-1-t-0-1.ndjson", "exp/rejected/hitlogs-1-t-0-2.rejected.ndjson", "exphitlogs-1-t-0-4.ndjson", "other/hitlogs-1-t-0-3.ndjson"}) {
		t.Fatalf("underlying keys %v", got)
	}
	var listed []string
	if err := b.List(ctx, "", func(o ObjectInfo) error { listed = append(listed, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(listed, []string{"hitlogs-1-t-0-1.ndjson", "rejected/hitlogs-1-t-0-2.rejected.ndjson"}) {
		t.Errorf("List through the prefix: %v", listed)
	}
	listed = nil
	if err := b.List(ctx, "rejected/", func(o ObjectInfo) error { listed = append(listed, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(listed, []string{"rejected/hitlogs-1-t-0-2.rejected.ndjson"}) {
		t.Errorf("List of a sub-prefix: %v", listed)
	}
	info, err := b.Stat(ctx, "rejected/hitlogs-1-t-0-2.rejected.ndjson")
	if err != nil || info.Size != 2 || info.Metadata["k"] != "v" {
		t.Errorf("Stat: %+v %v", info, err)
	}
	if info.Key != "" && info.Key != "rejected/hitlogs-1-t-0-2.rejected.ndjson" {
		t.Errorf("Stat key keeps the prefix: %q", info.Key)
	}
	if _, err := b.Stat(ctx, "other/hitlogs-1-t-0-3.ndjson"); !IsNotFound(err) {
		t.Errorf("a key outside the prefix is visible: %v", err)
	}
	rc, err := b.Get(ctx, "hitlogs-1-t-0-1.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if string(data) != "a" {
		t.Errorf("Get: %q", data)
	}
	if err := b.Delete(ctx, "hitlogs-1-t-0-1.ndjson"); err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Stat(ctx, "exp/hitlogs-1-t-0-1.ndjson"); !IsNotFound(err) {
		t.Errorf("Delete did not reach the prefixed key: %v", err)
	}
	if b.Name() != "b" {
		t.Errorf("Name %q", b.Name())
	}
	if ok, err := b.Exists(ctx); !ok || err != nil {
		t.Errorf("Exists %v %v", ok, err)
	}
}
