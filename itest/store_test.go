//go:build integration

package itest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hitexport/hitexport/store"
	"github.com/hitexport/hitexport/store/storetest"
)

// The Bucket contract against the real S3 server: the same acceptance test
// the in-memory bucket passes in store's unit tests.
func TestExportStoreAcceptance(t *testing.T) {
	name := fmt.Sprintf("store-acceptance-%d", time.Now().UnixNano()%1e9)
	b, err := store.NewS3(store.S3Options{Endpoint: s3Addr, Bucket: name, AccessKey: accessKey, SecretKey: secretKey, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := retry(ctx, func() error { return b.MakeBucket(ctx) }); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	storetest.Acceptance(t, b)

	// A bucket that does not exist: Exists says so without an error.
	missing, err := store.NewS3(store.S3Options{Endpoint: s3Addr, Bucket: name + "-missing", AccessKey: accessKey, SecretKey: secretKey, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := missing.Exists(ctx); ok || err != nil {
		t.Fatalf("Exists of a missing bucket = %v, %v; want false, nil", ok, err)
	}
}
