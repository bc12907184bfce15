package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/hitexport/hitexport/store"
	"github.com/hitexport/hitexport/store/storetest"
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

// The Bucket contract (also run against S3 in itest).
func TestMemoryAcceptance(t *testing.T) {
	m := store.NewMemory("bkt")
	var _ store.Bucket = m
	storetest.Acceptance(t, m)
	if len(m.Keys()) != 0 {
		t.Fatalf("acceptance left keys behind: %v", m.Keys())
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

// Keys lists every key in order (a test helper on Memory only).
func TestMemoryKeys(t *testing.T) {
	m := store.NewMemory("b")
	for _, k := range []string{"b/2", "a/1", "c"} {
		if err := put(m, k, k, store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if k := m.Keys(); strings.Join(k, ",") != "a/1,b/2,c" {
		t.Fatalf("Keys %v", k)
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

// The prefix decorator keeps the Bucket contract (keys, listing order and
// prefixes, conditions, metadata and content type pass through).
func TestPrefixAcceptance(t *testing.T) {
	storetest.Acceptance(t, store.WithPrefix(store.NewMemory("acceptance"), "exp/"))
}
