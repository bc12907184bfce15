// Package storetest is the acceptance test of the store.Bucket contract. The
// same test runs against the in-memory bucket (store's unit tests) and the
// real S3 server (itest, build tag integration), so the fake the unit tests
// lean on is held to what the real store does.
package storetest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/store"
)

// Acceptance checks b against the store.Bucket contract. b must exist; the
// test writes and deletes keys under "acceptance/" only, so a shared bucket is
// fine as long as nothing else writes there.
func Acceptance(t *testing.T, b store.Bucket) {
	t.Helper()
	const p = "acceptance/"
	t.Run("Exists", func(t *testing.T) {
		ok, err := b.Exists(ctx(t))
		if err != nil || !ok {
			t.Fatalf("Exists = %v, %v; want true", ok, err)
		}
		if b.Name() == "" {
			t.Fatal("empty Name")
		}
	})
	t.Run("MissingKey", func(t *testing.T) {
		k := p + "missing/never-written"
		if _, err := b.Stat(ctx(t), k); !store.IsNotFound(err) {
			t.Fatalf("Stat of a missing key: %v, want a not-found error", err)
		}
		if rc, err := b.Get(ctx(t), k); !store.IsNotFound(err) {
			if rc != nil {
				rc.Close()
			}
			t.Fatalf("Get of a missing key: %v, want a not-found error", err)
		}
		if err := b.Delete(ctx(t), k); err != nil {
			t.Fatalf("Delete of a missing key: %v", err)
		}
	})
	t.Run("PutStatGet", func(t *testing.T) {
		k := p + "put/hello.json"
		meta := map[string]string{"X-Amz-Meta-Last-Offset": "7", "Topic": "hits", "first-offset": "1"}
		mustPut(t, b, k, `{"a":"hello"}`, store.PutOptions{Metadata: meta, ContentType: "application/json"})
		if got := get(t, b, k); got != `{"a":"hello"}` {
			t.Fatalf("Get = %q", got)
		}
		info, err := b.Stat(ctx(t), k)
		if err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum([]byte(`{"a":"hello"}`))
		if info.Key != k || info.Size != 13 || info.ETag != hex.EncodeToString(sum[:]) {
			t.Fatalf("Stat = %+v; want key %s, size 13, ETag the MD5 of the bytes", info, k)
		}
		if d := time.Since(info.LastModified); info.LastModified.IsZero() || d > time.Hour || d < -time.Hour {
			t.Fatalf("LastModified %v is not about now", info.LastModified)
		}
		if info.ContentType != "application/json" {
			t.Fatalf("ContentType = %q, want application/json", info.ContentType)
		}
		want := map[string]string{"last-offset": "7", "topic": "hits", "first-offset": "1"}
		if fmt.Sprint(info.Metadata) != fmt.Sprint(want) {
			t.Fatalf("Metadata = %v, want %v (keys lower case, no x-amz-meta- prefix)", info.Metadata, want)
		}
		// Overwrite without conditions; Put is idempotent for the same bytes.
		mustPut(t, b, k, "bye", store.PutOptions{})
		mustPut(t, b, k, "bye", store.PutOptions{})
		if got := get(t, b, k); got != "bye" {
			t.Fatalf("after overwrite Get = %q", got)
		}
		if info2, err := b.Stat(ctx(t), k); err != nil || info2.Size != 3 || info2.ETag == info.ETag {
			t.Fatalf("after overwrite Stat = %+v, %v", info2, err)
		}
		// An empty object.
		mustPut(t, b, p+"put/empty", "", store.PutOptions{})
		if got := get(t, b, p+"put/empty"); got != "" {
			t.Fatalf("empty object reads %q", got)
		}
		for _, key := range []string{k, p + "put/empty"} {
			if err := b.Delete(ctx(t), key); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Stat(ctx(t), key); !store.IsNotFound(err) {
				t.Fatalf("deleted %s still there: %v", key, err)
			}
		}
	})
	t.Run("Conditions", func(t *testing.T) {
		k := p + "cond/k"
		mustPut(t, b, k, "v1", store.PutOptions{IfNoneMatch: true})
		if err := put(t, b, k, "v2", store.PutOptions{IfNoneMatch: true}); !store.IsPreconditionFailed(err) {
			t.Fatalf("IfNoneMatch over an existing key: %v, want a precondition error", err)
		}
		info, err := b.Stat(ctx(t), k)
		if err != nil {
			t.Fatal(err)
		}
		if err := put(t, b, k, "v3", store.PutOptions{IfMatch: "0123456789abcdef0123456789abcdef"}); !store.IsPreconditionFailed(err) {
			t.Fatalf("IfMatch with a stale ETag: %v, want a precondition error", err)
		}
		if got := get(t, b, k); got != "v1" {
			t.Fatalf("refused writes changed the object: %q", got)
		}
		mustPut(t, b, k, "v4", store.PutOptions{IfMatch: info.ETag})
		if got := get(t, b, k); got != "v4" {
			t.Fatalf("IfMatch with the current ETag: object reads %q", got)
		}
		if err := put(t, b, k, "v5", store.PutOptions{IfMatch: info.ETag}); !store.IsPreconditionFailed(err) {
			t.Fatalf("IfMatch with the replaced ETag: %v, want a precondition error", err)
		}
		missing := p + "cond/missing"
		if err := put(t, b, missing, "x", store.PutOptions{IfMatch: info.ETag}); !store.IsPreconditionFailed(err) {
			t.Fatalf("IfMatch on a missing key: %v, want a precondition error", err)
		}
		if _, err := b.Stat(ctx(t), missing); !store.IsNotFound(err) {
			t.Fatalf("a refused conditional write created the key: %v", err)
		}
		if err := b.Delete(ctx(t), k); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("List", func(t *testing.T) {
		lp := p + "list/"
		keys := []string{"b/2", "a/1", "b/1", "c", "b/10", "bb"}
		for _, k := range keys {
			mustPut(t, b, lp+k, k, store.PutOptions{Metadata: map[string]string{"x": "y"}, ContentType: "text/plain"})
		}
		list := func(prefix string) []string {
			var got []string
			err := b.List(ctx(t), lp+prefix, func(o store.ObjectInfo) error {
				if o.Metadata != nil || o.ContentType != "" {
					t.Errorf("List filled metadata or content type for %s", o.Key)
				}
				if name := strings.TrimPrefix(o.Key, lp); o.Size != int64(len(name)) || o.ETag == "" {
					t.Errorf("List %s: size %d, ETag %q", o.Key, o.Size, o.ETag)
				}
				got = append(got, strings.TrimPrefix(o.Key, lp))
				return nil
			})
			if err != nil {
				t.Fatalf("List %q: %v", prefix, err)
			}
			return got
		}
		if got := strings.Join(list("b/"), ","); got != "b/1,b/10,b/2" {
			t.Fatalf("List b/ = %s, want b/1,b/10,b/2 (prefix, key order)", got)
		}
		if got := strings.Join(list(""), ","); got != "a/1,b/1,b/10,b/2,bb,c" {
			t.Fatalf("List = %s, want every key in key order", got)
		}
		if got := list("nothing/"); len(got) != 0 {
			t.Fatalf("List of an empty prefix = %v", got)
		}
		stop := errors.New("stop")
		n := 0
		if err := b.List(ctx(t), lp, func(store.ObjectInfo) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Fatalf("List did not stop at fn's error: %v after %d calls", err, n)
		}
		// fn may use the bucket.
		if err := b.List(ctx(t), lp, func(o store.ObjectInfo) error { _, err := b.Stat(ctx(t), o.Key); return err }); err != nil {
			t.Fatalf("Stat inside List: %v", err)
		}
		for _, k := range keys {
			if err := b.Delete(ctx(t), lp+k); err != nil {
				t.Fatal(err)
			}
		}
		if got := list(""); len(got) != 0 {
			t.Fatalf("List after deleting every key = %v", got)
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		c, cancel := context.WithCancel(context.Background())
		cancel()
		k := p + "cancelled"
		if err := b.Put(c, k, strings.NewReader("abc"), 3, store.PutOptions{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Put with a cancelled context: %v, want context.Canceled", err)
		}
		if _, err := b.Stat(ctx(t), k); !store.IsNotFound(err) {
			t.Fatalf("a cancelled Put stored the key: %v", err)
		}
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func put(t *testing.T, b store.Bucket, key, data string, opts store.PutOptions) error {
	return b.Put(ctx(t), key, strings.NewReader(data), int64(len(data)), opts)
}

func mustPut(t *testing.T, b store.Bucket, key, data string, opts store.PutOptions) {
	t.Helper()
	if err := put(t, b, key, data, opts); err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
}

func get(t *testing.T, b store.Bucket, key string) string {
	t.Helper()
	rc, err := b.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	defer rc.Close()
	d, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return string(d)
}
