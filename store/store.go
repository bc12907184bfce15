// Package store is the object store the exporter writes to.
//
// Bucket is deliberately small: what the uploader, the checker and "check"
// need. Put is idempotent for the same key and bytes, and supports the two
// conditions the uploader fences zombie writers with (create only if absent,
// replace only if unchanged). Errors are classified once, here: IsNotFound,
// IsPreconditionFailed and IsPermanent.
package store

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// PutOptions describes one object write.
type PutOptions struct {
	ContentType     string
	ContentEncoding string
	Metadata        map[string]string
	// IfNoneMatch makes the write fail with a precondition error when the key
	// exists.
	IfNoneMatch bool
	// IfMatch, when set, makes the write fail with a precondition error unless
	// the key exists with this ETag.
	IfMatch string
}

// ObjectInfo describes a stored object. Metadata keys are lower case.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string
	LastModified time.Time
	// ContentType is the type given to Put (Stat fills it; List does not).
	ContentType string
	Metadata    map[string]string
}

// Bucket is one bucket of an object store.
type Bucket interface {
	// Name is the bucket's name.
	Name() string
	// Put writes size bytes from r under key.
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) error
	// Stat returns an object's info, or an error for which IsNotFound is true.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Get opens an object for reading.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List calls fn for every object whose key starts with prefix, in key
	// order. Metadata is not filled in.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	// Delete removes an object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Exists reports whether the bucket exists.
	Exists(ctx context.Context) (bool, error)
}

// Sentinel errors used by implementations; test them with the Is functions.
var (
	ErrNotFound           = errors.New("object not found")
	ErrPreconditionFailed = errors.New("precondition failed")
)

// PermanentError marks an error that retrying will not fix without an
// operator (bad credentials, missing bucket, access denied).
type PermanentError struct {
	Code string
	Err  error
}

func (e *PermanentError) Error() string { return e.Code + ": " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsNotFound reports whether err says the object does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsPreconditionFailed reports whether a conditional write was refused.
func IsPreconditionFailed(err error) bool { return errors.Is(err, ErrPreconditionFailed) }

// IsPermanent reports whether err needs an operator rather than a retry.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

func lowerKeys(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		k = strings.ToLower(k)
		k = strings.TrimPrefix(k, "x-amz-meta-")
		out[k] = v
	}
	return out
}
