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
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// PutOptions describes one object write.
type PutOptions struct {
	ContentType string
	// ContentEncoding is stored as the object's Content-Encoding. The
	// exporter leaves it empty: a .gz object is a gzip file, not gzip-encoded
	// JSON (see encoders.Compression.ContentType).
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
	// ContentEncoding is the stored Content-Encoding (Stat of S3 fills it).
	ContentEncoding string
	Metadata        map[string]string
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
	// class is ErrorClass's answer, set by classify (empty: from Code).
	class string
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

// The classes ErrorClass reports (the admin API's last_error.class).
const (
	ClassAuth        = "auth"         // credentials refused: unknown key, bad signature, expired token
	ClassPermission  = "permission"   // credentials accepted, access denied
	ClassNotFound    = "not_found"    // bucket or object does not exist
	ClassNetwork     = "network"      // the server could not be reached or the connection broke
	ClassTimeout     = "timeout"      // a deadline passed (ours or the server's RequestTimeout)
	ClassRateLimited = "rate_limited" // the server asks to slow down (SlowDown, 429, 503)
	ClassOther       = "other"        // anything else, including refused conditional writes
)

// ErrorClass says what kind of failure err is, as one of the Class
// constants. It reads errors as the S3 bucket returns them (classified) as
// well as raw minio-go and network errors, with the same meaning of S3 error
// codes classify uses. A nil error is ClassOther: ask only about errors.
func ErrorClass(err error) string {
	var p *PermanentError
	switch {
	case err == nil:
		return ClassOther
	case errors.Is(err, ErrNotFound):
		return ClassNotFound
	case errors.Is(err, ErrPreconditionFailed):
		return ClassOther
	case errors.As(err, &p):
		if p.class != "" {
			return p.class
		}
		return codeClass(p.Code, 0)
	}
	if resp, ok := s3Response(err); ok {
		return codeClass(resp.Code, resp.StatusCode)
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return ClassTimeout
	case errors.Is(err, context.Canceled):
		return ClassOther
	}
	var ue *url.Error
	var oe *net.OpError
	var de *net.DNSError
	switch {
	case errors.As(err, &ue), errors.As(err, &oe), errors.As(err, &de),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return ClassNetwork
	}
	return ClassOther
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
