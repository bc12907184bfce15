package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

const (
	testAccessKey = "AKIATESTACCESSKEY123"
	testSecretKey = "s3cr3t/TestSecretKey+doNotLeak"
)

func s3Err(code string, status int, msg string) error {
	return minio.ErrorResponse{Code: code, StatusCode: status, Message: msg, BucketName: "bkt", Key: "k", RequestID: "R1"}
}

// What classify makes of each error (which Is function holds) and what
// ErrorClass reports, for the raw error and for the classified one.
func TestClassifyTable(t *testing.T) {
	refused := &url.Error{Op: "Put", URL: "http://127.0.0.1:9000/bkt/k?X-Amz-Credential=" + testAccessKey + "&X-Amz-Signature=" + testSecretKey,
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	timeoutURL := &url.Error{Op: "Put", URL: "http://127.0.0.1:9000/bkt/k", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name                  string
		err                   error
		notFound, cond, perma bool
		class                 string
	}{
		{"AccessDenied", s3Err("AccessDenied", 403, "Access Denied."), false, false, true, ClassPermission},
		{"403 without code", s3Err("", 403, ""), false, false, true, ClassPermission},
		{"InvalidAccessKeyId", s3Err("InvalidAccessKeyId", 403, "The Access Key Id you provided does not exist in our records."), false, false, true, ClassAuth},
		{"SignatureDoesNotMatch", s3Err("SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided."), false, false, true, ClassAuth},
		{"ExpiredToken", s3Err("ExpiredToken", 400, "The provided token has expired."), false, false, true, ClassAuth},
		{"NoSuchBucket", s3Err("NoSuchBucket", 404, "The specified bucket does not exist"), false, false, true, ClassNotFound},
		{"InvalidBucketName", s3Err("InvalidBucketName", 400, "The specified bucket is not valid."), false, false, true, ClassOther},
		{"NoSuchKey", s3Err("NoSuchKey", 404, "The specified key does not exist."), true, false, false, ClassNotFound},
		{"404 without code", s3Err("", 404, ""), true, false, false, ClassNotFound},
		{"PreconditionFailed", s3Err("PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold"), false, true, false, ClassOther},
		{"412 without code", s3Err("", 412, ""), false, true, false, ClassOther},
		{"SlowDown", s3Err("SlowDown", 503, "Please reduce your request rate."), false, false, false, ClassRateLimited},
		{"503", s3Err("503 Service Unavailable", 503, "503 Service Unavailable"), false, false, false, ClassRateLimited},
		{"429", s3Err("429 Too Many Requests", 429, ""), false, false, false, ClassRateLimited},
		{"RequestTimeout", s3Err("RequestTimeout", 400, "Your socket connection to the server was not read from or written to within the timeout period."), false, false, false, ClassTimeout},
		{"InternalError", s3Err("InternalError", 500, "We encountered an internal error. Please try again."), false, false, false, ClassOther},
		{"context deadline", fmt.Errorf("put: %w", context.DeadlineExceeded), false, false, false, ClassTimeout},
		{"context canceled", context.Canceled, false, false, false, ClassOther},
		{"url.Error connection refused", refused, false, false, false, ClassNetwork},
		{"url.Error i/o timeout", timeoutURL, false, false, false, ClassTimeout},
		{"net.OpError reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, false, false, false, ClassNetwork},
		{"DNS", &net.DNSError{Err: "no such host", Name: "s3.invalid", IsNotFound: true}, false, false, false, ClassNetwork},
		{"unexpected EOF", io.ErrUnexpectedEOF, false, false, false, ClassNetwork},
		{"plain", errors.New("boom"), false, false, false, ClassOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := classify("put k", tc.err)
			if IsNotFound(got) != tc.notFound || IsPreconditionFailed(got) != tc.cond || IsPermanent(got) != tc.perma {
				t.Errorf("classify(%v) = %v: notFound %v cond %v permanent %v, want %v %v %v",
					tc.err, got, IsNotFound(got), IsPreconditionFailed(got), IsPermanent(got), tc.notFound, tc.cond, tc.perma)
			}
			if !strings.HasPrefix(got.Error(), "put k: ") {
				t.Errorf("classified error %q does not name the operation", got)
			}
			if c := ErrorClass(tc.err); c != tc.class {
				t.Errorf("ErrorClass(raw) = %s, want %s", c, tc.class)
			}
			if c := ErrorClass(got); c != tc.class {
				t.Errorf("ErrorClass(classified %v) = %s, want %s", got, c, tc.class)
			}
			if c := ErrorClass(fmt.Errorf("upload: %w", got)); c != tc.class {
				t.Errorf("ErrorClass(wrapped) = %s, want %s", c, tc.class)
			}
			if msg := got.Error(); strings.Contains(msg, testSecretKey) || strings.Contains(msg, testAccessKey) {
				t.Errorf("classified error leaks a credential: %s", msg)
			}
			// Context errors stay visible to errors.Is.
			if errors.Is(tc.err, context.DeadlineExceeded) != errors.Is(got, context.DeadlineExceeded) {
				t.Errorf("classify lost context.DeadlineExceeded")
			}
		})
	}
	if classify("x", nil) != nil {
		t.Error("classify(nil) is not nil")
	}
	if c := ErrorClass(nil); c != ClassOther {
		t.Errorf("ErrorClass(nil) = %s", c)
	}
	// PermanentError built by hand (tests, other stores) is classed by Code.
	if c := ErrorClass(&PermanentError{Code: "AccessDenied", Err: errors.New("denied")}); c != ClassPermission {
		t.Errorf("hand-made PermanentError: %s", c)
	}
}

// The sentinels and PermanentError through wrapping.
func TestIsFunctions(t *testing.T) {
	perm := &PermanentError{Code: "AccessDenied", Err: errors.New("denied")}
	tests := []struct {
		err                   error
		notFound, cond, perma bool
	}{
		{ErrNotFound, true, false, false},
		{fmt.Errorf("stat x: %w", ErrNotFound), true, false, false},
		{fmt.Errorf("put x: %w", ErrPreconditionFailed), false, true, false},
		{perm, false, false, true},
		{fmt.Errorf("wrapped: %w", perm), false, false, true},
		{errors.New("timeout"), false, false, false},
		{nil, false, false, false},
	}
	for _, tc := range tests {
		if IsNotFound(tc.err) != tc.notFound || IsPreconditionFailed(tc.err) != tc.cond || IsPermanent(tc.err) != tc.perma {
			t.Errorf("%v: %v %v %v", tc.err, IsNotFound(tc.err), IsPreconditionFailed(tc.err), IsPermanent(tc.err))
		}
	}
	if perm.Error() != "AccessDenied: denied" || !errors.Is(perm, perm.Err) {
		t.Errorf("%q", perm.Error())
	}
}

// A real failure from minio-go (nothing listens on the port): network class,
// and no credential in the message.
func TestS3ConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	b, err := NewS3(S3Options{Endpoint: addr, Bucket: "bkt", AccessKey: testAccessKey, SecretKey: testSecretKey, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = b.Put(ctx, "k", strings.NewReader("x"), 1, PutOptions{})
	if err == nil || IsPermanent(err) || IsNotFound(err) || ErrorClass(err) != ClassNetwork {
		t.Fatalf("Put to a closed port: %v (class %s), want a retryable network error", err, ErrorClass(err))
	}
	if strings.Contains(err.Error(), testSecretKey) || strings.Contains(err.Error(), testAccessKey) {
		t.Fatalf("error leaks a credential: %v", err)
	}
}

// A real error response parsed by minio-go from the server's XML.
func TestS3ErrorResponseFromServer(t *testing.T) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message><Key>k</Key><RequestId>R</RequestId></Error>`)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	b, err := NewS3(S3Options{Endpoint: l.Addr().String(), Bucket: "bkt", AccessKey: testAccessKey, SecretKey: testSecretKey, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Put(context.Background(), "k", strings.NewReader("x"), 1, PutOptions{})
	if !IsPermanent(err) || ErrorClass(err) != ClassAuth {
		t.Fatalf("SignatureDoesNotMatch: %v (class %s), want permanent auth", err, ErrorClass(err))
	}
	if strings.Contains(err.Error(), testSecretKey) || strings.Contains(err.Error(), testAccessKey) {
		t.Fatalf("error leaks a credential: %v", err)
	}
}
