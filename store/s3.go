package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"
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
	// PartSize is the multipart part size; unconditional writes larger are
	// uploaded in parts of this size. Zero means 16 MiB.
	PartSize uint64
	// SSE is the server-side encryption asked for on every write:
	// SSENone (or empty), SSES3 or SSEKMS (with SSEKMSKeyID, optional:
	// without it the bucket's or the account's default KMS key).
	SSE         string
	SSEKMSKeyID string
	// Role, when RoleARN is set, makes the bucket use temporary credentials
	// of that role (STS AssumeRole), obtained with the static keys above.
	Role AssumeRole
}

// The values of S3Options.SSE.
const (
	SSENone = "none"
	SSES3   = "s3"
	SSEKMS  = "kms"
)

// AssumeRole says which role to assume with STS AssumeRole.
type AssumeRole struct {
	RoleARN     string
	ExternalID  string
	SessionName string
	// STSEndpoint is the STS URL (scheme included); empty: the regional AWS
	// endpoint https://sts.<Region>.amazonaws.com.
	STSEndpoint string
	// Duration of the temporary credentials; zero: the STS default (1 h on
	// AWS). They are renewed once 80% of their lifetime has passed.
	Duration time.Duration
	// Client is the HTTP client for STS (nil: one with the S3 transport's
	// TLS settings).
	Client *http.Client
}

// S3 is a Bucket on an S3-compatible server (MinIO, AWS S3, Versity).
//
// Every write is a plainly signed request whose payload hash is known
// (X-Amz-Content-Sha256 is the body's SHA-256, or UNSIGNED-PAYLOAD for the
// parts of a multipart upload) and carries checksums the server verifies:
// a single PUT sends x-amz-checksum-crc32c (with the signed SHA-256, which
// the server checks too), a multipart part Content-MD5. minio-go's default over plain HTTP, the streaming
// signature, is never used: it sends Content-Encoding: aws-chunked, which
// some servers (versitygw) store as the object's Content-Encoding.
type S3 struct {
	client   *minio.Client
	bucket   string
	partSize uint64
	sse      encrypt.ServerSide
}

// NewS3 returns the bucket. It does not contact the server (nor STS: the
// first request does). minio-go's own retries are disabled: the uploader
// owns the retry schedule.
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
	creds, err := newCredentials(o, tr)
	if err != nil {
		return nil, err
	}
	sse, err := newSSE(o.SSE, o.SSEKMSKeyID)
	if err != nil {
		return nil, err
	}
	c, err := minio.New(o.Endpoint, &minio.Options{
		Creds:      creds,
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
	return &S3{client: c, bucket: o.Bucket, partSize: ps, sse: sse}, nil
}

// newCredentials is the static keys, or with a role the temporary
// credentials of STS AssumeRole obtained with them. minio-go's credentials
// cache renews the temporary ones when 80% of their lifetime has passed
// (on the first request after that), so requests never carry expired keys.
func newCredentials(o S3Options, tr *http.Transport) (*credentials.Credentials, error) {
	if o.Role.RoleARN == "" {
		return credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""), nil
	}
	ep := o.Role.STSEndpoint
	if ep == "" {
		region := o.Region
		if region == "" {
			region = "us-east-1"
		}
		ep = "https://sts." + region + ".amazonaws.com"
	}
	name := o.Role.SessionName
	if name == "" {
		name = "hitexport"
	}
	client := o.Role.Client
	if client == nil {
		// A configured STS endpoint trusts what the S3 endpoint trusts (its
		// CA file); AWS's public one the system's CAs.
		stsTr := tr
		if o.Role.STSEndpoint == "" {
			var err error
			if stsTr, err = minio.DefaultTransport(true); err != nil {
				return nil, err
			}
		}
		client = &http.Client{Transport: stsTr, Timeout: 30 * time.Second}
	}
	return credentials.New(&credentials.STSAssumeRole{
		Client:      client,
		STSEndpoint: ep,
		Options: credentials.STSAssumeRoleOptions{
			AccessKey: o.AccessKey, SecretKey: o.SecretKey, Location: o.Region,
			RoleARN: o.Role.RoleARN, RoleSessionName: name, ExternalID: o.Role.ExternalID,
			DurationSeconds: int(o.Role.Duration / time.Second),
		},
	}), nil
}

// newSSE is the server-side encryption of the option (nil for none).
func newSSE(mode, kmsKey string) (encrypt.ServerSide, error) {
	switch mode {
	case "", SSENone:
		if kmsKey != "" {
			return nil, errors.New("an SSE-KMS key id needs SSE mode kms")
		}
		return nil, nil
	case SSES3:
		if kmsKey != "" {
			return nil, errors.New("an SSE-KMS key id needs SSE mode kms")
		}
		return encrypt.NewSSE(), nil
	case SSEKMS:
		// An empty key id sends aws:kms alone: the default KMS key.
		return encrypt.NewSSEKMS(kmsKey, nil)
	}
	return nil, fmt.Errorf("unknown SSE mode %q (accepted: none, s3, kms)", mode)
}

func (s *S3) Name() string { return s.bucket }

func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) error {
	po := minio.PutObjectOptions{
		ContentType:     opts.ContentType,
		ContentEncoding: opts.ContentEncoding,
		UserMetadata:    opts.Metadata,
		PartSize:        s.partSize,
		NumThreads:      1,
		// Never the streaming (aws-chunked) signature: see S3.
		DisableContentSha256: true,
		ServerSideEncryption: s.sse,
	}
	// A conditional write must be one PUT: minio-go sends the condition of a
	// multipart upload only with its initiation, not with its completion,
	// so a multipart write could replace an object that appeared meanwhile
	// (seen with versitygw). One PUT takes up to 5 GiB.
	single := size <= int64(s.partSize)
	if opts.IfNoneMatch {
		po.SetMatchETagExcept("*")
		single = true
	}
	if opts.IfMatch != "" {
		po.SetMatchETag(opts.IfMatch)
		single = true
	}
	var err error
	if single {
		err = s.putSingle(ctx, key, r, size, po)
	} else {
		// Each part carries its Content-MD5 (minio-go reads the part into a
		// buffer of PartSize to compute it).
		po.SendContentMd5 = true
		_, err = s.client.PutObject(ctx, s.bucket, key, r, size, po)
	}
	err = classify("put "+key, err)
	if opts.IfMatch != "" && IsNotFound(err) {
		// S3 answers If-Match on a missing key with 404 NoSuchKey; for the
		// Bucket contract that is the condition failing (the uploader then
		// looks again instead of giving up on the attempt).
		return fmt.Errorf("put %s: %w (no such key)", key, ErrPreconditionFailed)
	}
	return err
}

// putSingle writes the object with one PUT whose body is signed by its
// SHA-256 and checked by x-amz-checksum-crc32c: the server refuses a body
// that does not match (XAmzContentSHA256Mismatch, BadDigest). The CRC32C
// header is what AWS demands of writes into Object Lock buckets ("Content-MD5
// or x-amz-checksum-*"); Content-MD5 is not sent: MD5 would double the
// digests' CPU for no check the two others do not make. The digests take one pass over r before the
// upload; a seekable r (every caller's: spools and byte readers) is read
// twice, any other is buffered in memory first.
func (s *S3) putSingle(ctx context.Context, key string, r io.Reader, size int64, po minio.PutObjectOptions) error {
	rs, ok := r.(io.ReadSeeker)
	if !ok {
		buf, err := io.ReadAll(io.LimitReader(r, size))
		if err != nil {
			return err
		}
		rs = bytes.NewReader(buf)
	}
	start, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	sum, err := Digest(io.LimitReader(rs, size))
	if err != nil {
		return err
	}
	if sum.Size != size {
		return fmt.Errorf("body holds %d bytes, not the %d announced", sum.Size, size)
	}
	if _, err := rs.Seek(start, io.SeekStart); err != nil {
		return err
	}
	meta := make(map[string]string, len(po.UserMetadata)+1)
	for k, v := range po.UserMetadata {
		meta[k] = v
	}
	meta[HeaderChecksumCRC32C] = sum.CRC32C
	po.UserMetadata = meta
	_, err = minio.Core{Client: s.client}.PutObject(ctx, s.bucket, key, io.LimitReader(rs, size), size, "", sum.SHA256, po)
	return err
}

// HeaderChecksumCRC32C is the header of the CRC32C checksum of a PUT.
const HeaderChecksumCRC32C = "x-amz-checksum-crc32c"

// Sums are the digests of a body, as S3 headers spell them.
type Sums struct {
	Size   int64
	SHA256 string // hex, for X-Amz-Content-Sha256
	CRC32C string // base64 of the big-endian value, for x-amz-checksum-crc32c
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Digest reads r to its end and returns its digests.
func Digest(r io.Reader) (Sums, error) {
	h, c := sha256.New(), crc32.New(castagnoli)
	n, err := io.Copy(io.MultiWriter(h, c), r)
	if err != nil {
		return Sums{}, err
	}
	return Sums{Size: n,
		SHA256: hex.EncodeToString(h.Sum(nil)), CRC32C: base64.StdEncoding.EncodeToString(c.Sum(nil))}, nil
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
		ContentType: oi.ContentType, ContentEncoding: oi.Metadata.Get("Content-Encoding"), Metadata: lowerKeys(meta)}, nil
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
	var sts credentials.ErrorResponse
	if errors.As(err, &sts) {
		// STS refused the role (AssumeRole): not for a retry to fix.
		class := codeClass(sts.STSError.Code, 0)
		if class == ClassOther {
			return fmt.Errorf("%s: sts: %s: %s", op, sts.STSError.Code, sts.STSError.Message)
		}
		return fmt.Errorf("%s: %w", op, &PermanentError{Code: sts.STSError.Code, Err: errors.New("sts AssumeRole: " + sts.STSError.Message), class: class})
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
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidClientTokenId",
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
