package store_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/hitexport/hitexport/store"
)

var ctx = context.Background()

func put(b store.Bucket, key, data string, opts store.PutOptions) error {
	return b.Put(ctx, key, strings.NewReader(data), int64(len(data)), opts)
}

func get(t *testing.T, b store.Bucket, key string) string {
	t.Helper()
	rc, err := b.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	d, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(d)
}

func TestMemoryPutGetStat(t *testing.T) {
	m := store.NewMemory("bkt")
	var _ store.Bucket = m
	if m.Name() != "bkt" {
		t.Fatal(m.Name())
	}
	if ok, err := m.Exists(ctx); !ok || err != nil {
		t.Fatal("Exists")
	}
	if _, err := m.Stat(ctx, "k"); !store.IsNotFound(err) {
		t.Fatalf("Stat missing: %v", err)
	}
	if _, err := m.Get(ctx, "k"); !store.IsNotFound(err) {
		t.Fatalf("Get missing: %v", err)
	}
	meta := map[string]string{"X-Amz-Meta-Last-Offset": "7", "Topic": "hits", "first-offset": "1"}
	if err := put(m, "k", "hello", store.PutOptions{Metadata: meta, ContentType: "text/plain"}); err != nil {
		t.Fatal(err)
	}
	if get(t, m, "k") != "hello" {
		t.Fatal("content")
	}
	info, err := m.Stat(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum([]byte("hello"))
	if info.Key != "k" || info.Size != 5 || info.ETag != hex.EncodeToString(sum[:]) || info.LastModified.IsZero() {
		t.Fatalf("info %+v", info)
	}
	want := map[string]string{"last-offset": "7", "topic": "hits", "first-offset": "1"}
	if fmt.Sprint(info.Metadata) != fmt.Sprint(want) {
		t.Fatalf("metadata %v, want %v (lower case, no x-amz-meta- prefix)", info.Metadata, want)
	}
	// Overwrite without conditions.
	if err := put(m, "k", "bye", store.PutOptions{}); err != nil || get(t, m, "k") != "bye" {
		t.Fatal("overwrite")
	}
	// Delete, also of a missing key.
	if err := m.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Stat(ctx, "k"); !store.IsNotFound(err) {
		t.Fatal("deleted key still there")
	}
}

func TestMemoryConditions(t *testing.T) {
	m := store.NewMemory("b")
	if err := put(m, "k", "v1", store.PutOptions{IfNoneMatch: true}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := put(m, "k", "v2", store.PutOptions{IfNoneMatch: true}); !store.IsPreconditionFailed(err) {
		t.Fatalf("create over an existing key: %v", err)
	}
	info, _ := m.Stat(ctx, "k")
	if err := put(m, "k", "v3", store.PutOptions{IfMatch: "not-the-etag"}); !store.IsPreconditionFailed(err) {
		t.Fatalf("stale ETag: %v", err)
	}
	if err := put(m, "k", "v4", store.PutOptions{IfMatch: info.ETag}); err != nil {
		t.Fatalf("matching ETag: %v", err)
	}
	if get(t, m, "k") != "v4" {
		t.Fatal("content")
	}
	// The old ETag no longer matches.
	if err := put(m, "k", "v5", store.PutOptions{IfMatch: info.ETag}); !store.IsPreconditionFailed(err) {
		t.Fatalf("old ETag: %v", err)
	}
	if err := put(m, "missing", "x", store.PutOptions{IfMatch: info.ETag}); !store.IsPreconditionFailed(err) {
		t.Fatalf("IfMatch on a missing key: %v", err)
	}
	if _, err := m.Stat(ctx, "missing"); !store.IsNotFound(err) {
		t.Fatal("failed conditional write created the key")
	}
}

func TestMemoryFailPuts(t *testing.T) {
	m := store.NewMemory("b")
	m.FailPuts = 2
	for i := 0; i < 2; i++ {
		err := put(m, "k", "x", store.PutOptions{})
		if err == nil || store.IsPreconditionFailed(err) || store.IsPermanent(err) || store.IsNotFound(err) {
			t.Fatalf("injected failure %d: %v", i, err)
		}
	}
	if err := put(m, "k", "x", store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if m.FailPuts != 0 {
		t.Fatal(m.FailPuts)
	}
}

func TestMemoryPutChecks(t *testing.T) {
	m := store.NewMemory("b")
	if err := m.Put(ctx, "k", strings.NewReader("abc"), 5, store.PutOptions{}); err == nil {
		t.Fatal("size mismatch accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := m.Put(cctx, "k", strings.NewReader("abc"), 3, store.PutOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if len(m.Keys()) != 0 {
		t.Fatal("a failed put stored something")
	}
	if err := m.Put(ctx, "empty", strings.NewReader(""), 0, store.PutOptions{}); err != nil || get(t, m, "empty") != "" {
		t.Fatal("empty object")
	}
}

// Get returns the bytes of the moment: a later Put does not change a reader
// already open, and the caller's buffer is not kept.
func TestMemoryIsolation(t *testing.T) {
	m := store.NewMemory("b")
	buf := []byte("original")
	if err := m.Put(ctx, "k", strings.NewReader(string(buf)), int64(len(buf)), store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, _ := m.Get(ctx, "k")
	_ = put(m, "k", "replaced", store.PutOptions{})
	d, _ := io.ReadAll(rc)
	if string(d) != "original" {
		t.Fatalf("open reader saw %q", d)
	}
}

func TestMemoryList(t *testing.T) {
	m := store.NewMemory("b")
	for _, k := range []string{"b/2", "a/1", "b/1", "c", "b/10"} {
		if err := put(m, k, k, store.PutOptions{Metadata: map[string]string{"x": "y"}}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	err := m.List(ctx, "b/", func(o store.ObjectInfo) error {
		if o.Metadata != nil {
			t.Errorf("List filled metadata for %s", o.Key)
		}
		if o.Size != int64(len(o.Key)) {
			t.Errorf("%s size %d", o.Key, o.Size)
		}
		got = append(got, o.Key)
		return nil
	})
	if err != nil || strings.Join(got, ",") != "b/1,b/10,b/2" {
		t.Fatalf("List b/: %v %v", got, err)
	}
	if k := m.Keys(); strings.Join(k, ",") != "a/1,b/1,b/10,b/2,c" {
		t.Fatalf("Keys %v", k)
	}
	stop := errors.New("stop")
	n := 0
	if err := m.List(ctx, "", func(store.ObjectInfo) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("List did not stop: %v after %d", err, n)
	}
	// fn may use the bucket (List does not hold its lock while calling fn).
	if err := m.List(ctx, "", func(o store.ObjectInfo) error { _, err := m.Stat(ctx, o.Key); return err }); err != nil {
		t.Fatal(err)
	}
}

func TestErrorClassification(t *testing.T) {
	perm := &store.PermanentError{Code: "AccessDenied", Err: errors.New("denied")}
	tests := []struct {
		err                   error
		notFound, cond, perma bool
	}{
		{store.ErrNotFound, true, false, false},
		{fmt.Errorf("stat x: %w", store.ErrNotFound), true, false, false},
		{fmt.Errorf("put x: %w", store.ErrPreconditionFailed), false, true, false},
		{perm, false, false, true},
		{fmt.Errorf("wrapped: %w", perm), false, false, true},
		{errors.New("timeout"), false, false, false},
		{nil, false, false, false},
	}
	for _, tc := range tests {
		if store.IsNotFound(tc.err) != tc.notFound || store.IsPreconditionFailed(tc.err) != tc.cond || store.IsPermanent(tc.err) != tc.perma {
			t.Errorf("%v: %v %v %v", tc.err, store.IsNotFound(tc.err), store.IsPreconditionFailed(tc.err), store.IsPermanent(tc.err))
		}
	}
	if perm.Error() != "AccessDenied: denied" || !errors.Is(perm, perm.Err) {
		t.Errorf("%q", perm.Error())
	}
}

// Concurrent writers and readers (run with -race): conditional creates of
// one key let exactly one writer win.
func TestMemoryConcurrent(t *testing.T) {
	m := store.NewMemory("b")
	var wg sync.WaitGroup
	wins := make(chan int, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if put(m, "race", fmt.Sprint(i), store.PutOptions{IfNoneMatch: true}) == nil {
				wins <- i
			}
			_ = put(m, fmt.Sprint("k", i), "x", store.PutOptions{})
			_, _ = m.Stat(ctx, "race")
			_ = m.Keys()
		}(i)
	}
	wg.Wait()
	close(wins)
	n := 0
	for range wins {
		n++
	}
	if n != 1 || len(m.Keys()) != 51 {
		t.Fatalf("%d winners, %d keys", n, len(m.Keys()))
	}
}
