package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Options configure the S3 bucket.
type S3Options struct {
	Endpoint  string // host:port
	Bucket    string
	AccessKey string
	SecretKey string
	Region    string
	TLS       bool
	// CAFile is an optional PEM file of CAs trusted for the endpoint (TLS).
	CAFile string
	// CAPEM is the same as PEM text (an integration's destination.ca_pem);
	// used when CAFile is empty.
	CAPEM string
	// PartSize is the multipart part size; objects larger are uploaded in
	// parts of this size. Zero means 16 MiB.
	PartSize uint64
}

// S3 is a Bucket on an S3-compatible server (MinIO, AWS S3, Versity).
type S3 struct {
	client   *minio.Client
	bucket   string
	partSize uint64
}

// NewS3 returns the bucket. It does not contact the server. minio-go's own
// retries are disabled: the uploader owns the retry schedule.
func NewS3(o S3Options) (*S3, error) {
	tr, err := minio.DefaultTransport(o.TLS)
	if err != nil {
		return nil, err
	}
	if o.CAFile != "" || o.CAPEM != "" {
		pem, src := []byte(o.CAPEM), "S3 CA PEM"
		if o.CAFile != "" {
			if pem, err = os.ReadFile(o.CAFile); err != nil {
				return nil, fmt.Errorf("read S3 CA file: %w", err)
			}
			src = "S3 CA file " + o.CAFile
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", src)
		}
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	c, err := minio.New(o.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""),
		Secure:     o.TLS,
		Region:     o.Region,
		Transport:  tr,
		MaxRetries: 1,
	})
	if err != nil {
		// minio.New's errors name the endpoint, never the keys.
		return nil, fmt.Errorf("S3 client: %w", err)
	}
	ps := o.PartSize
	if ps == 0 {
		ps = 16 << 20
	}
	return &S3{client: c, bucket: o.Bucket, partSize: ps}, nil
}

func (s *S3) Name() string { return s.bucket }

func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) error {
	po := minio.PutObjectOptions{
		ContentType:     opts.ContentType,
		ContentEncoding: opts.ContentEncoding,
		UserMetadata:    opts.Metadata,
		PartSize:        s.partSize,
		NumThreads:      1,
		SendContentMd5:  false,
	}
	// A conditional write must be one PUT: minio-go sends the condition of a
	// multipart upload only with its initiation, not with its completion,
	// so a multipart write could replace an object that appeared meanwhile
	// (seen with versitygw). One PUT takes up to 5 GiB.
	if opts.IfNoneMatch {
		po.SetMatchETagExcept("*")
		po.DisableMultipart = true
	}
	if opts.IfMatch != "" {
		po.SetMatchETag(opts.IfMatch)
		po.DisableMultipart = true
	}
	_, err := s.client.PutObject(ctx, s.bucket, key, r, size, po)
	err = classify("put "+key, err)
	if opts.IfMatch != "" && IsNotFound(err) {
		// S3 answers If-Match on a missing key with 404 NoSuchKey; for the
		// Bucket contract that is the condition failing (the uploader then
		// looks again instead of giving up on the attempt).
		return fmt.Errorf("put %s: %w (no such key)", key, ErrPreconditionFailed)
	}
	return err
}

func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	oi, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, classify("stat "+key, err)
	}
	meta := map[string]string{}
	for k, v := range oi.UserMetadata {
		meta[k] = v
	}
	for k, v := range oi.Metadata {
		if len(v) > 0 && len(k) > len("X-Amz-Meta-") && http.CanonicalHeaderKey(k[:len("X-Amz-Meta-")]) == "X-Amz-Meta-" {
			meta[k] = v[0]
		}
	}
	return ObjectInfo{Key: key, Size: oi.Size, ETag: oi.ETag, LastModified: oi.LastModified,
		ContentType: oi.ContentType, Metadata: lowerKeys(meta)}, nil
}

func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	o, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, classify("get "+key, err)
	}
	// GetObject is lazy: Stat surfaces a missing key now rather than on Read.
	if _, err := o.Stat(); err != nil {
		o.Close()
		return nil, classify("get "+key, err)
	}
	return o, nil
}

func (s *S3) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for oi := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return classify("list "+prefix, oi.Err)
		}
		if err := fn(ObjectInfo{Key: oi.Key, Size: oi.Size, ETag: oi.ETag, LastModified: oi.LastModified}); err != nil {
			return err
		}
	}
	return nil
}

func (s *S3) Delete(ctx context.Context, key string) error {
	return classify("delete "+key, s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}))
}

func (s *S3) Exists(ctx context.Context) (bool, error) {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	return ok, classify("bucket "+s.bucket, err)
}

// MakeBucket creates the bucket if it does not exist (used by the demo and
// tests; the exporter itself never creates buckets).
func (s *S3) MakeBucket(ctx context.Context) error {
	ok, err := s.Exists(ctx)
	if err != nil || ok {
		return err
	}
	return classify("make bucket "+s.bucket, s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{}))
}

// classify wraps err with the operation and marks precondition, not-found and
// permanent errors so callers can test them with the package's Is functions.
// What an S3 error code means is decided once, in codeClass; ErrorClass
// reports the same meaning.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, redactURL(err))
	}
	resp, _ := s3Response(err)
	class := codeClass(resp.Code, resp.StatusCode)
	switch {
	case resp.StatusCode == http.StatusPreconditionFailed || resp.Code == "PreconditionFailed":
		return fmt.Errorf("%s: %w", op, ErrPreconditionFailed)
	case class == ClassNotFound && resp.Code != "NoSuchBucket":
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	case class == ClassAuth, class == ClassPermission, resp.Code == "NoSuchBucket", resp.Code == "InvalidBucketName":
		return fmt.Errorf("%s: %w", op, &PermanentError{Code: resp.Code, Err: errors.New(resp.Message), class: class})
	}
	return fmt.Errorf("%s: %w", op, redactURL(err))
}

// s3Response finds the server's error response in err's chain.
func s3Response(err error) (minio.ErrorResponse, bool) {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp, true
	}
	return minio.ErrorResponse{}, false
}

// redactURL drops the query of a url.Error's URL (a presigned URL carries
// the access key and signature there); the error chain is kept.
func redactURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil || (u.RawQuery == "" && u.User == nil) {
		return err
	}
	u.RawQuery, u.User = "", nil
	if err == error(ue) {
		return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
	}
	// Wrapped deeper: keep the chain for errors.Is, report a clean message.
	return &redacted{msg: (&url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}).Error(), err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// codeClass is the one mapping from an S3 error code (or, without a known
// code, the HTTP status) to what it means for an operator.
func codeClass(code string, status int) string {
	switch code {
	case "":
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
		"AuthorizationHeaderMalformed", "MissingSecurityHeader", "InvalidSecurity", "RequestTimeTooSkewed":
		return ClassAuth
	case "AccessDenied", "AllAccessDisabled", "AccountProblem", "InvalidPayer":
		return ClassPermission
	case "NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NoSuchVersion":
		return ClassNotFound
	case "SlowDown", "SlowDownRead", "SlowDownWrite", "TooManyRequests", "RequestLimitExceeded",
		"ServiceUnavailable", "Throttling", "ThrottlingException":
		return ClassRateLimited
	case "RequestTimeout":
		return ClassTimeout
	}
	switch status {
	case http.StatusForbidden:
		return ClassPermission
	case http.StatusNotFound:
		return ClassNotFound
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return ClassRateLimited
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return ClassTimeout
	}
	return ClassOther
}
